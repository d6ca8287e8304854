package org.pocketmt.engine.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.pocketmt.engine.bundle.BundleException;

/** tests/test_beam_search.py's cases, and table-driven ones for every rule of sections 2-5 and 7. */
class BeamSearchTest {
    static final int EOS = 0, START = 5, PAD = 5, V = 6;

    static SearchConfig cfg(int beam, int maxNew, double alpha, boolean forced) {
        return new SearchConfig(beam, maxNew, EOS, START, new int[] {PAD}, alpha, forced);
    }

    static float[] lp(double... tokenProb) {
        return TableStep.lp(V, tokenProb);
    }

    static TableStep model(Function<List<Integer>, float[]> table) {
        return new TableStep(V, table);
    }

    /** A fixed row, whatever the prefix. */
    static TableStep constant(float[] row) {
        return new TableStep(row.length, p -> row);
    }

    @Test
    void greedyTakesLowestIdOnTiesAndStopsAtEos() throws BundleException {
        Hypothesis hyp = BeamSearch.greedy(model(p -> p.size() < 2 ? lp(2, 0.4, 3, 0.4, 0, 0.2) : lp(0, 0.9, 1, 0.1)),
                new int[] {1, 0}, cfg(1, 6, 1.0, false));
        assertArrayEquals(new int[] {2, 2, 0}, hyp.tokens);
        assertTrue(hyp.finished);
        float l04 = (float) Math.log(0.4), l09 = (float) Math.log(0.9);
        assertEquals(l04 + l04 + l09, hyp.score); // float32 sums, left to right
        assertEquals(hyp.score / 3f, hyp.normalized);
    }

    @Test
    void bannedTokenIsNeverGeneratedEvenWhenMostLikely() throws BundleException {
        Hypothesis hyp = BeamSearch.greedy(model(p -> lp(PAD, 0.9, 4, 0.06, 0, 0.04)), new int[] {1}, cfg(1, 6, 1.0, false));
        assertFalse(Arrays.stream(hyp.tokens).anyMatch(t -> t == PAD));
        assertEquals(4, hyp.tokens[0]);
    }

    @Test
    void forcedEosEndsEveryHypothesisAtTheLengthLimit() throws BundleException {
        for (int beam : new int[] {1, 2, 3}) {
            Hypothesis hyp = BeamSearch.search(model(p -> lp(3, 0.7, 4, 0.29, 0, 0.001)), new int[] {1}, cfg(beam, 4, 1.0, true));
            assertArrayEquals(new int[] {3, 3, 3, 0}, hyp.tokens, "beam " + beam);
            assertTrue(hyp.finished);
        }
    }

    @Test
    void kFinishedHypothesesStopTheSearch() throws BundleException {
        TableStep m = model(p -> lp(3, 0.98, 0, 0.02));
        Hypothesis hyp = BeamSearch.search(m, new int[] {1}, cfg(2, 6, 1.0, false));
        assertArrayEquals(new int[] {3, 0}, hyp.tokens);
        assertEquals(2, m.calls);
    }

    @Test
    void withoutForcedEosAnUnfinishedHypothesisIsReturnedAndFlagged() throws BundleException {
        Hypothesis hyp = BeamSearch.search(model(p -> lp(3, 0.7, 4, 0.29, 0, 0.001)), new int[] {1}, cfg(2, 4, 1.0, false));
        assertArrayEquals(new int[] {3, 3, 3, 3}, hyp.tokens);
        assertFalse(hyp.finished);
    }

    @Test
    void beamFindsWhatGreedyMisses() throws BundleException {
        Function<List<Integer>, float[]> table = p -> p.isEmpty() ? lp(1, 0.6, 2, 0.4)
                : p.get(0) == 1 ? lp(0, 0.25, 3, 0.25, 4, 0.25, 1, 0.25) : lp(0, 0.99, 3, 0.01);
        Hypothesis greedy = BeamSearch.greedy(model(table), new int[] {1}, cfg(1, 6, 1.0, false));
        Hypothesis beam = BeamSearch.search(model(table), new int[] {1}, cfg(2, 6, 1.0, false));
        assertArrayEquals(new int[] {1, 0}, Arrays.copyOf(greedy.tokens, 2));
        assertArrayEquals(new int[] {2, 0}, beam.tokens);
        assertTrue(beam.normalized > greedy.normalized);
    }

    @Test
    void eosOutsideTheTopKCandidatesDoesNotFinish() throws BundleException {
        // step 0: 1 (0.5), 2 (0.3), EOS (0.2): with K=2 the EOS ranks third and is ignored, so [0] never finishes
        TableStep m = model(p -> p.isEmpty() ? lp(1, 0.5, 2, 0.3, 0, 0.2) : lp(0, 0.5, 3, 0.5));
        Hypothesis hyp = BeamSearch.search(m, new int[] {1}, cfg(2, 3, 0.0, false));
        assertArrayEquals(new int[] {1, 0}, hyp.tokens); // with alpha 0, [0] (log 0.2) would have beaten log 0.25
    }

    @Test
    void eosWithinTheTopKFinishesWhileSeveralRowsAreLive() throws BundleException {
        // K=3, step 1: rows [1] and [2] are live; EOS after [2] ranks 2nd of the candidates and finishes,
        // EOS after [1] ranks 5th (outside K) and is ignored
        Function<List<Integer>, float[]> table = p -> {
            if (p.isEmpty()) return lp(1, 0.5, 2, 0.45, 0, 0.05);
            if (p.equals(List.of(1))) return lp(3, 0.6, 4, 0.3, 0, 0.1);
            if (p.equals(List.of(2))) return lp(0, 0.6, 3, 0.4);
            return lp(0, 1.0);
        };
        Hypothesis hyp = BeamSearch.search(model(table), new int[] {1}, cfg(3, 5, 1.0, false));
        // finished: [0] at step 0 (rank 2 < K=3), [2,0] at step 1, then one of the [1,x,0]: best normalized wins
        float l2 = (float) Math.log(0.45), e = (float) Math.log(0.6);
        float two = BeamSearch.lengthNormalize(l2 + e, 2, 1.0);
        float l1 = (float) Math.log(0.5), l3 = (float) Math.log(0.6), end = (float) Math.log(1.0);
        float three = BeamSearch.lengthNormalize(l1 + l3 + end, 3, 1.0);
        assertArrayEquals(two > three ? new int[] {2, 0} : new int[] {1, 3, 0}, hyp.tokens);
    }

    @Test
    void deadRowsPadATinyVocabulary() throws BundleException {
        // V=3 with one banned id: one live token per step besides EOS, so K=3 leaves rows to pad with -inf
        int v = 3;
        float[] row = {(float) Math.log(0.1), (float) Math.log(0.9), Float.NEGATIVE_INFINITY};
        TableStep m = new TableStep(v, p -> row);
        Hypothesis hyp = BeamSearch.search(m, new int[] {1}, new SearchConfig(3, 4, 0, 2, new int[] {2}, 1.0, false));
        // every step: EOS finishes (rank 1 < K), token 1 survives alone and is padded twice
        assertTrue(hyp.finished);
        assertEquals(0, hyp.tokens[hyp.tokens.length - 1]);
        float[] norms = new float[4];
        float s = 0f;
        for (int n = 1; n <= 3; n++) {
            norms[n] = BeamSearch.lengthNormalize(s + row[0], n, 1.0);
            s = s + row[1];
        }
        int best = 1;
        for (int n = 2; n <= 3; n++) if (norms[n] > norms[best]) best = n;
        assertEquals(best, hyp.tokens.length);
    }

    @Test
    void lengthPenaltyPrefersLongerWithHigherAlpha() throws BundleException {
        Function<List<Integer>, float[]> table = p -> p.isEmpty() ? lp(3, 0.5, 0, 0.4, 4, 0.1) : lp(0, 0.7, 4, 0.3);
        assertArrayEquals(new int[] {0}, BeamSearch.search(model(table), new int[] {1}, cfg(2, 6, 0.0, false)).tokens);
        assertArrayEquals(new int[] {3, 0}, BeamSearch.search(model(table), new int[] {1}, cfg(2, 6, 1.0, false)).tokens);
        assertEquals(-0.25f, BeamSearch.lengthNormalize(-1f, 4, 1.0));
        assertEquals(-1f, BeamSearch.lengthNormalize(-1f, 4, 0.0));
        assertEquals(-1f / (float) Math.pow(4, 0.6), BeamSearch.lengthNormalize(-1f, 4, 0.6));
        Hypothesis other = BeamSearch.search(model(table), new int[] {1}, cfg(2, 6, 2.0, false));
        assertEquals(other.score / (float) Math.pow(other.tokens.length, 2.0), other.normalized);
    }

    @Test
    void equalScoresTieBreakByRowThenToken() throws BundleException {
        Hypothesis hyp = BeamSearch.search(model(p -> p.isEmpty() ? lp(3, 0.5, 2, 0.5) : lp(0, 1.0)), new int[] {1},
                cfg(2, 6, 1.0, false));
        assertArrayEquals(new int[] {2, 0}, hyp.tokens);
    }

    @Test
    void topCandidatesEqualAFullStableSort() {
        float[] pool = {Float.NEGATIVE_INFINITY, -3f, -1f, -0.5f, 0f, -0f};
        Random rng = new Random(7);
        for (int trial = 0; trial < 2000; trial++) {
            int rows = 1 + rng.nextInt(3), vocab = 1 + rng.nextInt(8), count = 1 + rng.nextInt(30);
            float[] scores = new float[rows * vocab];
            for (int i = 0; i < scores.length; i++) scores[i] = pool[rng.nextInt(pool.length)];
            Integer[] order = IntStream.range(0, scores.length).boxed().toArray(Integer[]::new);
            // stable sort, higher first, with float comparison (numpy's: -0.0 equals 0.0), index order on ties
            Comparator<Integer> higher = (a, b) -> scores[a] > scores[b] ? -1 : scores[a] < scores[b] ? 1 : 0;
            Arrays.sort(order, higher);
            List<Integer> want = new ArrayList<>();
            for (int n = 0; n < Math.min(count, order.length); n++) if (Float.isFinite(scores[order[n]])) want.add(order[n]);
            List<Integer> got = new ArrayList<>();
            for (BeamSearch.Candidate c : BeamSearch.topCandidates(scores, rows, vocab, count)) got.add(c.row * vocab + c.token);
            assertEquals(want, got, Arrays.toString(scores) + " count " + count);
        }
    }

    @Test
    void scoreTokensAddsTheMaskedLogProbsOfTheGivenTokens() throws BundleException {
        float[] row = lp(3, 0.5, 4, 0.3, 0, 0.2);
        Hypothesis hyp = BeamSearch.scoreTokens(constant(row), new int[] {1}, new int[] {3, 4, 0}, cfg(2, 3, 1.0, true));
        assertEquals(row[3] + row[4] + row[0], hyp.score);
        assertEquals(hyp.score / 3f, hyp.normalized);
        assertTrue(hyp.finished);
        // forced EOS at the last step masks every other token: scoring 3 there gives -inf
        Hypothesis forced = BeamSearch.scoreTokens(constant(row), new int[] {1}, new int[] {3, 3}, cfg(1, 2, 1.0, true));
        assertEquals(Float.NEGATIVE_INFINITY, forced.score);
        assertFalse(forced.finished);
        // the banned id is masked too
        assertEquals(Float.NEGATIVE_INFINITY, BeamSearch.scoreTokens(constant(row), new int[] {1}, new int[] {PAD}, cfg(1, 5, 1.0, false)).score);
    }

    @Test
    void configRejectsWhatTheSearchCannotRun() {
        assertThrows(IllegalArgumentException.class, () -> cfg(0, 5, 1.0, true));
        assertThrows(IllegalArgumentException.class, () -> cfg(2, 0, 1.0, true));
        assertEquals("beam size 9 is outside 1..8 (this bundle's max batch)", assertThrows(IllegalArgumentException.class,
                () -> SearchConfig.withinLimits(9, 8, 5, 256, EOS, START, new int[] {PAD}, 1.0, true)).getMessage());
        assertEquals("max new tokens 300 is outside 1..256", assertThrows(IllegalArgumentException.class,
                () -> SearchConfig.withinLimits(4, 8, 300, 256, EOS, START, new int[] {PAD}, 1.0, true)).getMessage());
    }

    /** The message of the error a search on this model stops with (section 2, item 3). */
    static String brokenModelError(Function<List<Integer>, float[]> table, SearchConfig c) {
        return assertThrows(BundleException.class, () -> BeamSearch.search(model(table), new int[] {1}, c)).getMessage();
    }

    static final String NOT_FINITE = " are not finite (NaN or +inf): its weights or graphs are broken";
    static final String NONE_FINITE = ": the model gives every allowed token probability 0 (or the bundle's banned ids"
            + " and forced EOS exclude them all)";

    static float[] with(float[] row, int token, float value) {
        float[] out = row.clone();
        out[token] = value;
        return out;
    }

    @Test
    void aNanOrPlusInfLogProbStopsGreedyAndBeamWithAnError() {
        for (int beam : new int[] {1, 3}) {
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
                // steps 0 and 1 are fine; at step 2 token 4 is NaN (or +inf), however unlikely the row makes it
                Function<List<Integer>, float[]> table = p -> p.size() < 2 ? lp(3, 0.9, 0, 0.1) : with(lp(3, 0.9, 0, 0.1), 4, bad);
                assertEquals("the model's log-probabilities at step 2" + NOT_FINITE, brokenModelError(table, cfg(beam, 6, 1.0, true)),
                        "beam " + beam + ", " + bad);
            }
        }
        // forced scoring reads the same masked rows (section 7)
        float[] nan = with(lp(3, 0.9, 0, 0.1), 4, Float.NaN);
        assertEquals("the model's log-probabilities at step 0" + NOT_FINITE, assertThrows(BundleException.class,
                () -> BeamSearch.scoreTokens(constant(nan), new int[] {1}, new int[] {3, 0}, cfg(1, 4, 1.0, true))).getMessage());
    }

    @Test
    void aNanTheMasksRemoveIsNoError() throws BundleException {
        // NaN on the banned id, and on every id but EOS at the forced-EOS step: the masks overwrite it first
        float[] clean = lp(3, 0.9, 4, 0.1);
        float[] nanPad = with(clean, PAD, Float.NaN);
        for (int beam : new int[] {1, 2, 3}) {
            Hypothesis want = BeamSearch.search(constant(clean), new int[] {1}, cfg(beam, 3, 1.0, true));
            Hypothesis got = BeamSearch.search(constant(nanPad), new int[] {1}, cfg(beam, 3, 1.0, true));
            assertArrayEquals(want.tokens, got.tokens, "beam " + beam);
            assertEquals(want.score, got.score, "beam " + beam);
        }
        Function<List<Integer>, float[]> lastNan = p -> {
            if (p.size() < 2) return clean;
            float[] row = new float[V];
            Arrays.fill(row, Float.NaN);
            row[EOS] = -1f;
            return row;
        };
        for (int beam : new int[] {1, 2}) {
            Hypothesis hyp = BeamSearch.search(model(lastNan), new int[] {1}, cfg(beam, 3, 1.0, true));
            assertArrayEquals(new int[] {3, 3, 0}, hyp.tokens, "beam " + beam);
            assertEquals(clean[3] + clean[3] + -1f, hyp.score, "beam " + beam);
        }
    }

    @Test
    void noFiniteTokenStopsTheSearchWithAnError() {
        float[] dead = new float[V];
        Arrays.fill(dead, Float.NEGATIVE_INFINITY);
        float[] noEos = with(lp(3, 0.9, 4, 0.1), EOS, Float.NEGATIVE_INFINITY); // nothing finishes before step 2
        Function<List<Integer>, float[]> deadAtTwo = p -> p.size() < 2 ? noEos : dead;
        // greedy used to return tokens ending in an arbitrary id with score -inf; beam failed on an empty list
        for (int beam : new int[] {1, 2, 4}) {
            assertEquals("no token has a finite score at step 0" + NONE_FINITE, brokenModelError(p -> dead, cfg(beam, 5, 1.0, true)));
            assertEquals("no token has a finite score at step 2" + NONE_FINITE, brokenModelError(deadAtTwo, cfg(beam, 5, 1.0, false)));
        }
        // only the banned id has a finite score: the masks leave nothing either
        float[] padOnly = with(dead, PAD, 0f);
        assertEquals("no token has a finite score at step 0" + NONE_FINITE, brokenModelError(p -> padOnly, cfg(1, 5, 1.0, true)));
    }

    @Test
    void aBeamThatFinishedSomethingEndsNormallyWhenNothingElseIsFinite() throws BundleException {
        // step 0: EOS (rank 0) finishes [0], 3 survives; step 1: every token is -inf, nothing survives
        float[] dead = new float[V];
        Arrays.fill(dead, Float.NEGATIVE_INFINITY);
        Hypothesis hyp = BeamSearch.search(model(p -> p.isEmpty() ? lp(0, 0.6, 3, 0.4) : dead), new int[] {1},
                cfg(2, 5, 1.0, false));
        assertArrayEquals(new int[] {0}, hyp.tokens);
        assertTrue(hyp.finished);
    }

    /** A model with random log-probs fixed per prefix (tests/test_beam_search.py's random_tables). */
    static Function<List<Integer>, float[]> randomTable(long seed, int vocab) {
        Random rng = new Random(seed);
        Map<List<Integer>, float[]> cache = new HashMap<>();
        return p -> cache.computeIfAbsent(p, k -> {
            double[] x = new double[vocab];
            for (int i = 0; i < vocab; i++) x[i] = rng.nextGaussian() * 2;
            return TableStep.logSoftmax(x);
        });
    }

    @Test
    void searchInvariantsOnRandomModels() throws BundleException {
        Random rng = new Random(11);
        for (int trial = 0; trial < 300; trial++) {
            Function<List<Integer>, float[]> table = randomTable(rng.nextLong(), V);
            int beam = 1 + rng.nextInt(5), maxLen = 1 + rng.nextInt(8);
            double alpha = rng.nextDouble() * 2;
            boolean forced = rng.nextBoolean();
            SearchConfig c = cfg(beam, maxLen, alpha, forced);
            Hypothesis hyp = BeamSearch.search(model(table), new int[] {1}, c);
            assertArrayEquals(hyp.tokens, BeamSearch.search(model(table), new int[] {1}, c).tokens);
            assertTrue(hyp.tokens.length >= 1 && hyp.tokens.length <= maxLen);
            for (int i = 0; i < hyp.tokens.length; i++) {
                assertTrue(hyp.tokens[i] != PAD);
                if (i < hyp.tokens.length - 1) assertTrue(hyp.tokens[i] != EOS);
            }
            assertEquals(hyp.tokens[hyp.tokens.length - 1] == EOS, hyp.finished);
            if (forced) assertTrue(hyp.finished);
            float total = 0f;
            for (int i = 0; i < hyp.tokens.length; i++) {
                List<Integer> prefix = new ArrayList<>();
                for (int j = 0; j < i; j++) prefix.add(hyp.tokens[j]);
                total = total + table.apply(prefix)[hyp.tokens[i]];
            }
            assertEquals(total, hyp.score); // exactly: the same float32 additions in the same order
            assertEquals(BeamSearch.lengthNormalize(hyp.score, hyp.tokens.length, alpha), hyp.normalized);
            if (beam == 1) assertArrayEquals(BeamSearch.greedy(model(table), new int[] {1}, c).tokens, hyp.tokens);
            Hypothesis scored = BeamSearch.scoreTokens(model(table), new int[] {1}, hyp.tokens, c);
            assertEquals(hyp.score, scored.score);
        }
    }
}
