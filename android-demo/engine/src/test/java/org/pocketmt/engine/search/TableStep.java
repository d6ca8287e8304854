package org.pocketmt.engine.search;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/** A step model whose log-probs are a function of the row's token history (tests/fake_step.py's twin). */
final class TableStep implements Step {
    private final int vocab;
    private final Function<List<Integer>, float[]> table;
    private List<List<Integer>> prefixes = new ArrayList<>();
    private boolean fresh = true;
    int calls = 0;

    TableStep(int vocab, Function<List<Integer>, float[]> table) {
        this.vocab = vocab;
        this.table = table;
    }

    @Override
    public void start(int[] sourceIds, int rows) {
        prefixes = new ArrayList<>();
        for (int r = 0; r < rows; r++) prefixes.add(List.of());
        fresh = true;
    }

    @Override
    public float[] step(int[] tokens) {
        calls++;
        if (!fresh) { // the first step after start() feeds the start token
            for (int r = 0; r < prefixes.size(); r++) {
                List<Integer> p = new ArrayList<>(prefixes.get(r));
                p.add(tokens[r]);
                prefixes.set(r, List.copyOf(p));
            }
        }
        fresh = false;
        float[] out = new float[prefixes.size() * vocab];
        for (int r = 0; r < prefixes.size(); r++) {
            float[] row = table.apply(prefixes.get(r));
            if (row.length != vocab) throw new IllegalStateException("row of " + row.length + " for V=" + vocab);
            System.arraycopy(row, 0, out, r * vocab, vocab);
        }
        return out;
    }

    @Override
    public void reorder(int[] parents) {
        List<List<Integer>> next = new ArrayList<>();
        for (int p : parents) next.add(prefixes.get(p));
        prefixes = next;
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    /** A row of -30 with {@code log(p)} at the given tokens: {@code lp(vocab, tok, p, tok, p, ...)}. */
    static float[] lp(int vocab, double... tokenProb) {
        float[] out = new float[vocab];
        Arrays.fill(out, -30f);
        for (int i = 0; i < tokenProb.length; i += 2) out[(int) tokenProb[i]] = (float) Math.log(tokenProb[i + 1]);
        return out;
    }

    /** The float32 log-softmax of a row (as fake_step.log_softmax: computed in double, then rounded). */
    static float[] logSoftmax(double[] x) {
        double m = Arrays.stream(x).max().orElse(0);
        double sum = 0;
        for (double v : x) sum += Math.exp(v - m);
        double log = Math.log(sum);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = (float) (x[i] - m - log);
        return out;
    }
}
