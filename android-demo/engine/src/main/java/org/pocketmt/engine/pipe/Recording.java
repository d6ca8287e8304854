package org.pocketmt.engine.pipe;

import java.util.ArrayList;
import java.util.List;

/**
 * The step calls of a run, as {@link RecordingStep} saw them and {@link ReplayStep} plays them back:
 * per {@code start}, its rows and, for each step, the tokens asked for and the log-probs returned.
 */
public final class Recording {
    record StepCall(int[] tokens, float[] logProbs) {}

    record Session(int[] sourceIds, int rows, List<StepCall> steps) {}

    final List<Session> sessions = new ArrayList<>();
    final int vocabSize;

    public Recording(int vocabSize) {
        this.vocabSize = vocabSize;
    }

    public int sessions() {
        return sessions.size();
    }

    /** Step calls over all sessions. */
    public int steps() {
        return sessions.stream().mapToInt(s -> s.steps().size()).sum();
    }
}
