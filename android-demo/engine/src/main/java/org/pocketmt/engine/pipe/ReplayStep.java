package org.pocketmt.engine.pipe;

import java.util.Arrays;
import org.pocketmt.engine.search.Step;

/**
 * Answers with the log-probs of a {@link Recording}, in order, without a model: running the same
 * inputs again measures what the engine itself costs per step (search, tokenizer, glossary). Each
 * call must ask for what the recorded run asked for, or the replay would be timing another search.
 */
public final class ReplayStep implements Step {
    private final Recording recording;
    private int session = -1;
    private int stepIndex;

    public ReplayStep(Recording recording) {
        this.recording = recording;
    }

    /** Play the recording again from its first session. */
    public void rewind() {
        session = -1;
    }

    @Override
    public void start(int[] sourceIds, int rows) {
        session++;
        if (session >= recording.sessions.size()) {
            throw new IllegalStateException("replay has only " + recording.sessions.size() + " starts");
        }
        Recording.Session s = recording.sessions.get(session);
        if (s.rows() != rows || !Arrays.equals(s.sourceIds(), sourceIds)) {
            throw new IllegalStateException("replay start " + session + " differs from the recorded one");
        }
        stepIndex = 0;
    }

    @Override
    public float[] step(int[] tokens) {
        Recording.Session s = recording.sessions.get(session);
        if (stepIndex >= s.steps().size()) {
            throw new IllegalStateException("replay session " + session + " has only " + s.steps().size() + " steps");
        }
        Recording.StepCall call = s.steps().get(stepIndex++);
        if (!Arrays.equals(call.tokens(), tokens)) {
            throw new IllegalStateException("replay step " + (stepIndex - 1) + " of session " + session
                    + " asks for other tokens than the recorded run");
        }
        // a copy: a search may mask its rows in place, and a real model hands out a fresh buffer too
        return call.logProbs().clone();
    }

    @Override
    public void reorder(int[] parents) {
        // a replay has no cache to move
    }

    @Override
    public int vocabSize() {
        return recording.vocabSize;
    }
}
