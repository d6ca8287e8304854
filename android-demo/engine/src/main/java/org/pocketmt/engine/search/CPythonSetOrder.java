package org.pocketmt.engine.search;

import java.util.Arrays;

/**
 * The iteration order of a CPython 3.11 (64-bit) set of int triples, so that {@link ConstraintState#advance}
 * visits partial matches in the order Python's {@code frozenset} does. Only one outcome depends on it: which
 * alternative is recorded when two partial matches of one constraint complete on the same token. Emulated:
 * the xxHash-style tuple hash of small non-negative ints, an 8-slot start table, linear probes of 9, the
 * perturbed probe sequence and growth to 4x the used count at 60% fill (Objects/setobject.c, tupleobject.c).
 */
final class CPythonSetOrder {
    private CPythonSetOrder() {}

    private static final long PRIME_1 = -7046029288634856825L; // 11400714785074694791
    private static final long PRIME_2 = -4417276706812531889L; // 14029467366897019727
    private static final long PRIME_5 = 2870177450012600261L;
    private static final int LINEAR_PROBES = 9;
    private static final int PERTURB_SHIFT = 5;

    /** {@code hash((c, a, j))} for non-negative ints below 2^61 - 1 (whose hash is the int itself). */
    static long tupleHash(int c, int a, int j) {
        long acc = PRIME_5;
        for (long lane : new long[] {c, a, j}) {
            acc += lane * PRIME_2;
            acc = Long.rotateLeft(acc, 31);
            acc *= PRIME_1;
        }
        acc += 3 ^ (PRIME_5 ^ 3527539L);
        return acc == -1L ? 1546275796L : acc;
    }

    /** A CPython set table of triples (no deletions: the search never removes from these sets). */
    private static final class Table {
        int mask = 7;
        int used = 0; // fill == used without deletions
        int[] slot = filled(8); // index of the triple in `triples`, or -1
        long[] hash = new long[8];
        final int[] triples;

        Table(int capacity) {
            triples = new int[capacity * 3];
        }

        private static int[] filled(int n) {
            int[] a = new int[n];
            Arrays.fill(a, -1);
            return a;
        }

        void add(int c, int a, int j) {
            long h = tupleHash(c, a, j);
            long perturb = h;
            int i = (int) (h & mask);
            while (true) {
                int probes = i + LINEAR_PROBES <= mask ? LINEAR_PROBES : 0;
                int e = i;
                while (true) {
                    if (slot[e] < 0) {
                        triples[used * 3] = c;
                        triples[used * 3 + 1] = a;
                        triples[used * 3 + 2] = j;
                        slot[e] = used;
                        hash[e] = h;
                        used++;
                        if ((long) used * 5 >= (long) mask * 3) resize(used > 50000 ? used * 2 : used * 4);
                        return;
                    }
                    int s = slot[e] * 3;
                    if (hash[e] == h && triples[s] == c && triples[s + 1] == a && triples[s + 2] == j) return;
                    e++;
                    if (probes-- == 0) break;
                }
                perturb >>>= PERTURB_SHIFT;
                i = (int) ((i * 5L + 1 + perturb) & mask);
            }
        }

        private void resize(int minUsed) {
            int size = 8;
            while (size <= minUsed) size <<= 1;
            int[] oldSlot = slot;
            long[] oldHash = hash;
            mask = size - 1;
            slot = filled(size);
            hash = new long[size];
            for (int e = 0; e < oldSlot.length; e++) {
                if (oldSlot[e] >= 0) insertClean(oldSlot[e], oldHash[e]);
            }
        }

        private void insertClean(int index, long h) {
            long perturb = h;
            int i = (int) (h & mask);
            while (true) {
                if (slot[i] < 0) {
                    slot[i] = index;
                    hash[i] = h;
                    return;
                }
                if (i + LINEAR_PROBES <= mask) {
                    for (int j = 1; j <= LINEAR_PROBES; j++) {
                        if (slot[i + j] < 0) {
                            slot[i + j] = index;
                            hash[i + j] = h;
                            return;
                        }
                    }
                }
                perturb >>>= PERTURB_SHIFT;
                i = (int) ((i * 5L + 1 + perturb) & mask);
            }
        }

        /** The triples in iteration order (table slot order), flattened. */
        int[] ordered(int[] met) {
            int[] out = new int[used * 3];
            int n = 0;
            for (int s : slot) {
                if (s < 0 || (met != null && met[triples[s * 3]] != 0)) continue;
                out[n++] = triples[s * 3];
                out[n++] = triples[s * 3 + 1];
                out[n++] = triples[s * 3 + 2];
            }
            return n == out.length ? out : Arrays.copyOf(out, n);
        }
    }

    /** Python's {@code frozenset(p for p in set(triples) if not met[p[0]])}, in its iteration order. */
    static int[] frozensetOfFiltered(int[] triples, int length, int[] met) {
        if (length == 0) return new int[0];
        Table added = new Table(length / 3);
        for (int i = 0; i < length; i += 3) added.add(triples[i], triples[i + 1], triples[i + 2]);
        int[] kept = added.ordered(met);
        Table frozen = new Table(kept.length / 3);
        for (int i = 0; i < kept.length; i += 3) frozen.add(kept[i], kept[i + 1], kept[i + 2]);
        return frozen.ordered(null);
    }

    /** Python's {@code list(frozenset(triples))} for the given insertion order (for tests). */
    static int[] iterationOrder(int[] triples) {
        Table t = new Table(triples.length / 3);
        for (int i = 0; i < triples.length; i += 3) t.add(triples[i], triples[i + 1], triples[i + 2]);
        return t.ordered(null);
    }
}
