package org.pocketmt.engine.search;

import java.util.Arrays;

/** A search result (Python's {@code Hypothesis} with its {@code extra} as fields). */
public final class Hypothesis {
    /** Generated ids, start token excluded, EOS included when finished. */
    public final int[] tokens;
    /** Sum of the token log-probs, float32 arithmetic left to right (section 3). */
    public final float score;
    /** {@code score / len ^ alpha} in float32 (section 3). */
    public final float normalized;
    public final boolean finished;
    /** Constrained search only: per constraint the alternative that met it, or -1; null for plain search. */
    public final int[] met;
    /** Constrained search only: no hypothesis met every constraint, this is the unconstrained best (8.4). */
    public final boolean constraintsDropped;

    public Hypothesis(int[] tokens, float score, float normalized, boolean finished, int[] met,
                      boolean constraintsDropped) {
        this.tokens = tokens;
        this.score = score;
        this.normalized = normalized;
        this.finished = finished;
        this.met = met;
        this.constraintsDropped = constraintsDropped;
    }

    Hypothesis withConstraints(int[] met, boolean dropped) {
        return new Hypothesis(tokens, score, normalized, finished, met, dropped);
    }

    @Override
    public String toString() {
        return "Hypothesis(" + Arrays.toString(tokens) + ", score=" + score + ", normalized=" + normalized
                + ", finished=" + finished + (met == null ? "" : ", met=" + Arrays.toString(met)
                + ", dropped=" + constraintsDropped) + ")";
    }
}
