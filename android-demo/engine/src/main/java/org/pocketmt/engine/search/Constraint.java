package org.pocketmt.engine.search;

import java.util.Arrays;

/**
 * One constraint of section 8: non-empty alternatives, any one of which, produced contiguously, meets it.
 * {@code proposed[a]} says whether the search may start alternative {@code a} on its own (8.2); a glued
 * spelling (9.2) counts only when the model starts it itself. An empty {@code proposed} proposes all.
 */
public final class Constraint {
    private final int[][] alternatives;
    public final String label;
    private final boolean[] proposed;

    public Constraint(int[][] alternatives, String label, boolean[] proposed) {
        if (alternatives == null || alternatives.length == 0) {
            throw new IllegalArgumentException("a constraint needs at least one non-empty alternative");
        }
        this.alternatives = new int[alternatives.length][];
        for (int a = 0; a < alternatives.length; a++) {
            if (alternatives[a] == null || alternatives[a].length == 0) {
                throw new IllegalArgumentException("a constraint needs at least one non-empty alternative");
            }
            this.alternatives[a] = alternatives[a].clone();
        }
        this.proposed = proposed == null ? new boolean[0] : proposed.clone();
        if (this.proposed.length != 0 && this.proposed.length != alternatives.length) {
            throw new IllegalArgumentException("proposed must have one flag per alternative");
        }
        this.label = label == null ? "" : label;
    }

    public Constraint(int[]... alternatives) {
        this(alternatives, "", null);
    }

    public int alternativeCount() {
        return alternatives.length;
    }

    public int[] alternative(int a) {
        return alternatives[a].clone();
    }

    int length(int a) {
        return alternatives[a].length;
    }

    int token(int a, int j) {
        return alternatives[a][j];
    }

    public boolean mayPropose(int a) {
        return proposed.length == 0 || proposed[a];
    }

    /** 8.5: the length of the shortest proposable alternative (alternative 0 always counts, as in Python). */
    int shortest() {
        int best = Integer.MAX_VALUE;
        for (int a = 0; a < alternatives.length; a++) {
            if (a == 0 || mayPropose(a)) best = Math.min(best, alternatives[a].length);
        }
        return best;
    }

    int longest() {
        int best = 0;
        for (int[] alt : alternatives) best = Math.max(best, alt.length);
        return best;
    }

    @Override
    public String toString() {
        return "Constraint(" + Arrays.deepToString(alternatives) + ", " + label + ", " + Arrays.toString(proposed) + ")";
    }
}
