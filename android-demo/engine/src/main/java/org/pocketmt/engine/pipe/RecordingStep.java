package org.pocketmt.engine.pipe;

import java.util.ArrayList;
import org.pocketmt.engine.search.Step;

/**
 * Passes every call to a real step and keeps its answers in a {@link Recording} until {@link #stop}
 * (a beam step of a real vocabulary is 128 KB: record one pass, not every timed one).
 */
public final class RecordingStep implements Step, AutoCloseable {
    private final Step inner;
    private final Recording recording;
    private boolean recordingOn = true;

    public RecordingStep(Step inner) {
        this.inner = inner;
        this.recording = new Recording(inner.vocabSize());
    }

    public Recording recording() {
        return recording;
    }

    /** From now on only pass calls through. */
    public void stop() {
        recordingOn = false;
    }

    @Override
    public void close() throws Exception {
        if (inner instanceof AutoCloseable c) {
            c.close();
        }
    }

    @Override
    public void start(int[] sourceIds, int rows) {
        inner.start(sourceIds, rows);
        if (recordingOn) {
            recording.sessions.add(new Recording.Session(sourceIds.clone(), rows, new ArrayList<>()));
        }
    }

    @Override
    public float[] step(int[] tokens) {
        float[] logProbs = inner.step(tokens);
        if (recordingOn) {
            current().steps().add(new Recording.StepCall(tokens.clone(), logProbs.clone()));
        }
        return logProbs;
    }

    @Override
    public void reorder(int[] parents) {
        inner.reorder(parents);
    }

    @Override
    public int vocabSize() {
        return inner.vocabSize();
    }

    private Recording.Session current() {
        if (recording.sessions.isEmpty()) {
            throw new IllegalStateException("step before start");
        }
        return recording.sessions.get(recording.sessions.size() - 1);
    }
}
