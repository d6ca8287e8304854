package org.pocketmt.engine.tokenizer;

/**
 * A read-only double-array trie in darts-clone's unit layout, the form SentencePiece stores its
 * precompiled normalization rules in. Each 32-bit unit packs: bit 31 leaf flag (with the value in
 * bits 0-30), bits 0-7 label, bit 8 "has leaf", bit 9 offset scale, bits 10-31 offset.
 */
final class DoubleArrayTrie {
    private final int[] units;

    DoubleArrayTrie(int[] units) {
        this.units = units;
    }

    /** Reads {@code length} bytes of little-endian units starting at {@code from}. */
    static DoubleArrayTrie fromLittleEndian(byte[] blob, int from, int length) throws TokenizerException {
        if (length % 4 != 0 || length == 0) {
            throw new TokenizerException("charsmap trie size " + length + " is not a positive multiple of 4");
        }
        int[] units = new int[length / 4];
        for (int i = 0; i < units.length; i++) {
            int p = from + 4 * i;
            units[i] = (blob[p] & 0xFF) | (blob[p + 1] & 0xFF) << 8 | (blob[p + 2] & 0xFF) << 16 | (blob[p + 3] & 0xFF) << 24;
        }
        return new DoubleArrayTrie(units);
    }

    /** The trie's result for the longest key that is a prefix of {@code key[from..to)}. */
    record Match(int length, int value) {}

    /**
     * The longest key that is a prefix of {@code key[from..to)}, or null. SentencePiece asks darts-clone
     * for all prefix keys and keeps the longest, which this walk finds directly.
     */
    Match longestPrefix(byte[] key, int from, int to) {
        Match best = null;
        int node = offset(units[0]);
        for (int i = from; i < to; i++) {
            int label = key[i] & 0xFF;
            node ^= label;
            if (node < 0 || node >= units.length) {
                return best;
            }
            int unit = units[node];
            if (label(unit) != label) {
                return best;
            }
            node ^= offset(unit);
            if (hasLeaf(unit)) {
                if (node < 0 || node >= units.length) {
                    return best;
                }
                best = new Match(i - from + 1, units[node] & 0x7FFFFFFF);
            }
        }
        return best;
    }

    private static int offset(int unit) {
        return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    }

    private static int label(int unit) {
        return unit & (0x80000000 | 0xFF);
    }

    private static boolean hasLeaf(int unit) {
        return ((unit >>> 8) & 1) == 1;
    }
}
