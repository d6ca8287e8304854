package org.pocketmt.engine.search;

/**
 * The step interface every search runs against: the Java twin of {@code runtime/step.py}'s
 * {@code StepModel} (docs/bundle.md, "The step contract"). One implementation drives the Python
 * runtime's graphs over a pipe (JVM, CI), another ExecuTorch's {@code Module} (Android).
 */
public interface Step {
    /** Encode one source (ids ending in EOS) for {@code rows} hypotheses; resets the decoder cache. */
    void start(int[] sourceIds, int rows);

    /**
     * One decoder step: {@code tokens[r]} is the last token of row r. Returns the log-probabilities,
     * row-major {@code [rows * vocabSize()]} float32 (unmasked: the search applies section 2).
     */
    float[] step(int[] tokens);

    /** After a beam step, row i continues the hypothesis of row {@code parents[i]}. */
    void reorder(int[] parents);

    /** V, the width of one row of {@link #step}'s result. */
    int vocabSize();
}
