package org.pocketmt.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A byte trie from UTF-8 piece strings to ids: the unigram model's piece lattice is built by walking
 * it from each character start, and user-defined symbols are matched with it before normalization.
 */
final class PieceTrie {
    /** Transition (node << 8 | byte) to child node. */
    private final Map<Long, Integer> next = new HashMap<>();
    /** Piece id ending at each node, -1 for none. */
    private int[] values = {-1};
    private int nodes = 1;

    void put(String piece, int id) {
        int node = 0;
        for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
            long key = (long) node << 8 | (b & 0xFF);
            Integer child = next.get(key);
            if (child == null) {
                child = nodes++;
                next.put(key, child);
                if (nodes > values.length) {
                    int old = values.length;
                    values = Arrays.copyOf(values, old * 2);
                    Arrays.fill(values, old, values.length, -1);
                }
            }
            node = child;
        }
        values[node] = id;
    }

    boolean isEmpty() {
        return nodes == 1;
    }

    /** Receives each key that is a prefix of the input, shortest first. */
    interface MatchSink {
        void match(int length, int id);
    }

    /** Reports every key that is a prefix of {@code key[from..to)}, shortest first, as darts-clone's traverse does. */
    void prefixes(byte[] key, int from, int to, MatchSink sink) {
        int node = 0;
        for (int i = from; i < to; i++) {
            Integer child = next.get((long) node << 8 | (key[i] & 0xFF));
            if (child == null) {
                return;
            }
            node = child;
            if (values[node] >= 0) {
                sink.match(i - from + 1, values[node]);
            }
        }
    }

    /** Length of the longest key that is a prefix of {@code key[from..to)}, 0 when none is. */
    int longestPrefix(byte[] key, int from, int to) {
        int[] longest = {0};
        prefixes(key, from, to, (length, id) -> longest[0] = length);
        return longest[0];
    }
}
