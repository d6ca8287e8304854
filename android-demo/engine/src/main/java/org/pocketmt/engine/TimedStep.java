package org.pocketmt.engine;

import org.pocketmt.engine.search.Step;

/**
 * Counts the time spent in the model and its steps, as {@code CachedStepModel}'s
 * {@code encode_seconds}, {@code step_seconds} and {@code steps} do for the Python timings.
 */
final class TimedStep implements Step {
    final Step inner;
    long encodeNanos;
    long stepNanos;
    int steps;

    TimedStep(Step inner) {
        this.inner = inner;
    }

    @Override
    public void start(int[] sourceIds, int rows) {
        long began = System.nanoTime();
        inner.start(sourceIds, rows);
        encodeNanos += System.nanoTime() - began;
    }

    @Override
    public float[] step(int[] tokens) {
        long began = System.nanoTime();
        float[] out = inner.step(tokens);
        stepNanos += System.nanoTime() - began;
        steps++;
        return out;
    }

    @Override
    public void reorder(int[] parents) {
        inner.reorder(parents);
    }

    @Override
    public int vocabSize() {
        return inner.vocabSize();
    }
}
