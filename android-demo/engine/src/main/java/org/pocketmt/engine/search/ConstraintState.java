package org.pocketmt.engine.search;

import java.util.Arrays;
import java.util.List;

/**
 * The constraint state of one hypothesis (section 8.1), immutable like Python's {@code ConstraintState}.
 *
 * <p>{@code partial} holds triples (constraint, alternative, tokens matched), sorted and distinct:
 * {@code advance} visits them in that order (section 8.1), which decides the alternative recorded when two
 * partial matches of one constraint complete on the same token (one alternative a suffix of another).
 */
public final class ConstraintState {
    private final int[] met; // per constraint: 0 = unmet, else 1 + index of the alternative that met it
    private final int[] partial; // triples (c, a, j) flattened, sorted by (c, a, j), distinct
    private final int[] justMet; // constraints met by the last token: undone if the next token extends the word

    private ConstraintState(int[] met, int[] partial, int[] justMet) {
        this.met = met;
        this.partial = partial;
        this.justMet = justMet;
    }

    public static ConstraintState start(int count) {
        return new ConstraintState(new int[count], new int[0], new int[0]);
    }

    /** Per constraint: 0 if unmet, else 1 + the alternative that met it. */
    public int[] met() {
        return met.clone();
    }

    /** The partial triples, flattened {c, a, j, c, a, j, ...}, in visiting order. */
    public int[] partial() {
        return partial.clone();
    }

    int[] justMetShared() {
        return justMet;
    }

    public boolean allMet() {
        for (int m : met) if (m == 0) return false;
        return true;
    }

    /** Section 8.2: the bank of the hypothesis. */
    public int progress(List<Constraint> constraints) {
        int[] bestPartial = new int[met.length];
        for (int i = 0; i < partial.length; i += 3) {
            bestPartial[partial[i]] = Math.max(bestPartial[partial[i]], partial[i + 2]);
        }
        int total = 0;
        for (int c = 0; c < met.length; c++) {
            total += met[c] != 0 ? constraints.get(c).length(met[c] - 1) : bestPartial[c];
        }
        return total;
    }

    /**
     * Section 8.1: the state after appending {@code token}. {@code continuesWord}: the token has no word-start
     * marker and begins with a letter or digit (it undoes a term just met); {@code afterWord}: the previous
     * token ends with a letter or digit (a glued alternative may not start here).
     */
    public ConstraintState advance(int token, List<Constraint> constraints, boolean continuesWord, boolean afterWord) {
        int[] newMet = met.clone();
        if (continuesWord) {
            for (int c : justMet) newMet[c] = 0;
        }
        // the candidate triples in Python's order: old partial triples, then new starts by constraint, alternative
        int starts = 0;
        for (int c = 0; c < constraints.size(); c++) {
            if (newMet[c] == 0) starts += constraints.get(c).alternativeCount();
        }
        int[] candidates = new int[partial.length + 3 * starts];
        System.arraycopy(partial, 0, candidates, 0, partial.length);
        int n = partial.length;
        for (int c = 0; c < constraints.size(); c++) {
            if (newMet[c] != 0) continue;
            Constraint con = constraints.get(c);
            for (int a = 0; a < con.alternativeCount(); a++) {
                if (afterWord && !con.mayPropose(a)) continue;
                candidates[n++] = c;
                candidates[n++] = a;
                candidates[n++] = 0;
            }
        }
        boolean[] completed = new boolean[met.length];
        int[] grown = new int[n];
        int g = 0;
        int completedCount = 0;
        for (int i = 0; i < n; i += 3) {
            int c = candidates[i], a = candidates[i + 1], j = candidates[i + 2];
            if (newMet[c] != 0 || completed[c]) continue;
            Constraint con = constraints.get(c);
            if (con.token(a, j) != token) continue;
            if (j + 1 == con.length(a)) {
                newMet[c] = a + 1;
                completed[c] = true;
                completedCount++;
            } else {
                grown[g++] = c;
                grown[g++] = a;
                grown[g++] = j + 1;
            }
        }
        int[] done = new int[completedCount];
        for (int c = 0, d = 0; c < completed.length; c++) if (completed[c]) done[d++] = c;
        return new ConstraintState(newMet, sortedUnmet(grown, g, newMet), done);
    }

    /** The triples of {@code triples[0..length)} whose constraint is still unmet, sorted and distinct. */
    private static int[] sortedUnmet(int[] triples, int length, int[] met) {
        int[][] kept = new int[length / 3][];
        int n = 0;
        for (int i = 0; i < length; i += 3) {
            if (met[triples[i]] == 0) kept[n++] = new int[] {triples[i], triples[i + 1], triples[i + 2]};
        }
        Arrays.sort(kept, 0, n, Arrays::compare);
        int[] out = new int[3 * n];
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (i > 0 && Arrays.equals(kept[i], kept[i - 1])) continue;
            System.arraycopy(kept[i], 0, out, m, 3);
            m += 3;
        }
        return Arrays.copyOf(out, m);
    }

    /** Section 8.5: tokens that meet every unmet constraint from here. */
    public int tokensNeeded(List<Constraint> constraints) {
        int saving = 0;
        for (int i = 0; i < partial.length; i += 3) {
            Constraint con = constraints.get(partial[i]);
            saving = Math.max(saving, con.shortest() - (con.length(partial[i + 1]) - partial[i + 2]));
        }
        return freshNeed(constraints) - saving;
    }

    /** Section 8.5: {@link #tokensNeeded} once every partial match is lost. */
    public int freshNeed(List<Constraint> constraints) {
        int total = 0;
        for (int c = 0; c < met.length; c++) if (met[c] == 0) total += constraints.get(c).shortest();
        return total;
    }

    /** Section 8.2: tokens that continue a partial match or start an unmet constraint, sorted, distinct. */
    public int[] nextTokens(List<Constraint> constraints) {
        int count = partial.length / 3;
        for (int c = 0; c < met.length; c++) if (met[c] == 0) count += constraints.get(c).alternativeCount();
        int[] out = new int[count];
        int n = 0;
        for (int i = 0; i < partial.length; i += 3) out[n++] = constraints.get(partial[i]).token(partial[i + 1], partial[i + 2]);
        for (int c = 0; c < met.length; c++) {
            if (met[c] != 0) continue;
            Constraint con = constraints.get(c);
            for (int a = 0; a < con.alternativeCount(); a++) if (con.mayPropose(a)) out[n++] = con.token(a, 0);
        }
        return Arrays.stream(out, 0, n).sorted().distinct().toArray();
    }

    @Override
    public String toString() {
        return "ConstraintState(met=" + Arrays.toString(met) + ", partial=" + Arrays.toString(partial)
                + ", justMet=" + Arrays.toString(justMet) + ")";
    }
}
