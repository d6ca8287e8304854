package org.pocketmt.engine.tokenizer;

import java.io.ByteArrayOutputStream;

/**
 * SentencePiece's normalizer: each step rewrites the longest prefix of the UTF-8 input found in the
 * precompiled charsmap (NFKC-style rules baked into the model), else copies one character (a byte
 * that is not valid UTF-8 becomes U+FFFD); then whitespace is squeezed, a dummy prefix space is added
 * and spaces become U+2581, as the model's NormalizerSpec says. Works on bytes because SentencePiece
 * matches rules on bytes.
 */
final class Normalizer {
    static final byte[] SPACE_SYMBOL = {(byte) 0xE2, (byte) 0x96, (byte) 0x81}; // U+2581

    private final DoubleArrayTrie rules;
    /** Offsets in this blob are the trie's values; each normalized string ends with a NUL byte. */
    private final byte[] normalized;
    private final int normalizedFrom;
    private final PieceTrie userDefined;
    private final boolean addDummyPrefix, removeExtraWhitespaces, escapeWhitespaces, treatWhitespaceAsSuffix;

    Normalizer(SentencePieceModel.NormalizerSpec spec, boolean treatWhitespaceAsSuffix, PieceTrie userDefined)
            throws TokenizerException {
        byte[] blob = spec.precompiledCharsmap();
        if (blob.length == 0) {
            rules = null;
            normalized = blob;
            normalizedFrom = 0;
        } else {
            // layout: uint32 little-endian trie size, the trie's units, then the normalized strings
            if (blob.length <= 4) {
                throw new TokenizerException("precompiled charsmap is truncated");
            }
            long trieSize = (blob[0] & 0xFFL) | (blob[1] & 0xFFL) << 8 | (blob[2] & 0xFFL) << 16 | (blob[3] & 0xFFL) << 24;
            if (trieSize >= blob.length - 4) {
                throw new TokenizerException("precompiled charsmap trie size " + trieSize + " exceeds the blob");
            }
            rules = DoubleArrayTrie.fromLittleEndian(blob, 4, (int) trieSize);
            normalized = blob;
            normalizedFrom = 4 + (int) trieSize;
        }
        this.userDefined = userDefined;
        this.addDummyPrefix = spec.addDummyPrefix();
        this.removeExtraWhitespaces = spec.removeExtraWhitespaces();
        this.escapeWhitespaces = spec.escapeWhitespaces();
        this.treatWhitespaceAsSuffix = treatWhitespaceAsSuffix;
    }

    /** The normalized form of one prefix of the input and how many input bytes it consumed. */
    private record Step(byte[] out, int outFrom, int outLen, int consumed) {
        boolean isSingleSpace() {
            return outLen == 1 && out[outFrom] == ' ';
        }
    }

    private Step normalizePrefix(byte[] in, int from, int to) {
        // user-defined symbols pass through unnormalized, longest first
        if (userDefined != null && !userDefined.isEmpty()) {
            int len = userDefined.longestPrefix(in, from, to);
            if (len > 0) {
                return new Step(in, from, len, len);
            }
        }
        DoubleArrayTrie.Match m = rules == null ? null : rules.longestPrefix(in, from, to);
        if (m != null) {
            int start = normalizedFrom + m.value();
            int end = start;
            while (end < normalized.length && normalized[end] != 0) {
                end++;
            }
            return new Step(normalized, start, end - start, m.length());
        }
        int len = Utf8.validCharLen(in, from, to);
        if (len < 0) {
            return new Step(Utf8.REPLACEMENT, 0, 3, 1);
        }
        return new Step(in, from, len, len);
    }

    /** Normalizes UTF-8 {@code in}; the result is UTF-8 with U+2581 for spaces when escaping. */
    byte[] normalize(byte[] in) {
        int pos = 0, end = in.length;
        if (removeExtraWhitespaces) {
            // leading input that normalizes to a plain space is dropped
            while (pos < end) {
                Step s = normalizePrefix(in, pos, end);
                if (!s.isSingleSpace()) {
                    break;
                }
                pos += s.consumed();
            }
        }
        if (pos >= end) {
            return new byte[0];
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length * 3 / 2 + 4);
        if (!treatWhitespaceAsSuffix && addDummyPrefix) {
            addSpace(out);
        }
        boolean prevSpace = removeExtraWhitespaces;
        while (pos < end) {
            Step s = normalizePrefix(in, pos, end);
            int from = s.outFrom(), to = s.outFrom() + s.outLen();
            if (prevSpace && removeExtraWhitespaces) {
                while (from < to && s.out()[from] == ' ') {
                    from++;
                }
            }
            if (from < to) {
                for (int i = from; i < to; i++) {
                    byte b = s.out()[i];
                    if (escapeWhitespaces && b == ' ') {
                        out.write(SPACE_SYMBOL, 0, 3);
                    } else {
                        out.write(b);
                    }
                }
                prevSpace = s.out()[to - 1] == ' ';
            }
            pos += s.consumed();
            if (!removeExtraWhitespaces) {
                prevSpace = false;
            }
        }
        byte[] result = out.toByteArray();
        int len = result.length;
        if (removeExtraWhitespaces) {
            byte[] space = escapeWhitespaces ? SPACE_SYMBOL : new byte[] {' '};
            while (endsWith(result, len, space)) {
                len -= space.length;
            }
        }
        ByteArrayOutputStream trimmed = new ByteArrayOutputStream(len + 3);
        trimmed.write(result, 0, len);
        if (treatWhitespaceAsSuffix && addDummyPrefix) {
            addSpace(trimmed);
        }
        return trimmed.toByteArray();
    }

    private void addSpace(ByteArrayOutputStream out) {
        if (escapeWhitespaces) {
            out.write(SPACE_SYMBOL, 0, 3);
        } else {
            out.write(' ');
        }
    }

    private static boolean endsWith(byte[] b, int len, byte[] suffix) {
        if (len < suffix.length) {
            return false;
        }
        for (int i = 0; i < suffix.length; i++) {
            if (b[len - suffix.length + i] != suffix[i]) {
                return false;
            }
        }
        return true;
    }
}
