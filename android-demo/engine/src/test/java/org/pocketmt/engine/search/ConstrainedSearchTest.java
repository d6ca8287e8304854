package org.pocketmt.engine.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.Test;
import org.pocketmt.engine.bundle.BundleException;

/** tests/test_constrained_search.py's cases, and table-driven ones for DBA, leave-room, undo and glued spellings. */
class ConstrainedSearchTest {
    static final int EOS = 0, PAD = 9, V = 10;
    static final IntPredicate NONE = v -> false;

    static SearchConfig cfg(int beam, int maxNew) {
        return new SearchConfig(beam, maxNew, EOS, PAD, new int[] {PAD}, 1.0, true);
    }

    static boolean contains(int[] tokens, int[] seq) {
        for (int i = 0; i + seq.length <= tokens.length; i++) {
            if (Arrays.equals(Arrays.copyOfRange(tokens, i, i + seq.length), seq)) return true;
        }
        return false;
    }

    static boolean has(int[] tokens, int t) {
        return Arrays.stream(tokens).anyMatch(x -> x == t);
    }

    /** A model that wants to say 1 2 1 2 ... then stop: it never says 5, 6 or 7 on its own. */
    static float[] peaked(List<Integer> prefix) {
        double[] out = new double[V];
        Arrays.fill(out, -12.0);
        out[1 + prefix.size() % 2] = -0.1;
        out[EOS] = prefix.size() >= 3 ? -0.5 : -6.0;
        return TableStep.logSoftmax(out);
    }

    /** A model stuck in a loop: 1 1 1 ... and never EOS before the length limit. */
    static float[] looping(List<Integer> prefix) {
        double[] out = new double[V];
        Arrays.fill(out, -14.0);
        out[1] = -0.01;
        out[EOS] = -9.0;
        return TableStep.logSoftmax(out);
    }

    static TableStep model(Function<List<Integer>, float[]> table) {
        return new TableStep(V, table);
    }

    static Hypothesis search(Function<List<Integer>, float[]> table, SearchConfig c, List<Constraint> cons) throws BundleException {
        return ConstrainedSearch.search(model(table), new int[] {1}, c, cons, NONE, NONE);
    }

    static Constraint con(int[]... alts) {
        return new Constraint(alts);
    }

    @Test
    void stateTracksMultiTokenAndOverlappingMatches() {
        List<Constraint> cons = List.of(con(new int[] {5, 5, 6}), con(new int[] {7}, new int[] {8}));
        ConstraintState s = ConstraintState.start(2);
        for (int tok : new int[] {5, 5, 5}) s = s.advance(tok, cons, false, false);
        assertArrayEquals(new int[] {0, 0}, s.met());
        assertEquals(2, s.progress(cons));
        assertArrayEquals(new int[] {5, 6, 7, 8}, s.nextTokens(cons));
        s = s.advance(6, cons, false, false);
        assertArrayEquals(new int[] {1, 0}, s.met());
        assertEquals(0, s.partial().length);
        s = s.advance(8, cons, false, false);
        assertArrayEquals(new int[] {1, 2}, s.met());
        assertTrue(s.allMet());
        assertEquals(4, s.progress(cons));
    }

    @Test
    void unconstrainedOutputLacksTheTermAndConstrainedOutputHasIt() throws BundleException {
        assertFalse(has(BeamSearch.search(model(ConstrainedSearchTest::peaked), new int[] {1}, cfg(4, 8)).tokens, 5));
        Hypothesis hyp = search(ConstrainedSearchTest::peaked, cfg(4, 8), List.of(con(new int[] {5})));
        assertTrue(has(hyp.tokens, 5) && hyp.finished && hyp.tokens[hyp.tokens.length - 1] == EOS);
        assertArrayEquals(new int[] {0}, hyp.met);
        assertFalse(hyp.constraintsDropped);
    }

    @Test
    void multiTokenAndDisjunctiveConstraintsAreAllMet() throws BundleException {
        List<Constraint> cons = List.of(con(new int[] {5, 6}), con(new int[] {7}, new int[] {3, 3}));
        Hypothesis hyp = search(ConstrainedSearchTest::peaked, cfg(4, 10), cons);
        assertTrue(contains(hyp.tokens, new int[] {5, 6}));
        assertTrue(contains(hyp.tokens, new int[] {7}) || contains(hyp.tokens, new int[] {3, 3}));
        assertEquals(0, hyp.met[0]);
        assertTrue(hyp.met[1] == 0 || hyp.met[1] == 1);
        assertFalse(hyp.constraintsDropped);
    }

    @Test
    void impossibleConstraintsFallBackToTheUnconstrainedBestAndSaySo() throws BundleException {
        List<Constraint> cons = List.of(con(new int[] {5, 6, 7}), con(new int[] {3, 4, 3}));
        Hypothesis hyp = search(ConstrainedSearchTest::peaked, cfg(4, 4), cons); // 6 tokens + EOS cannot fit in 4
        assertTrue(hyp.constraintsDropped);
        assertArrayEquals(new int[] {-1, -1}, hyp.met);
        assertArrayEquals(BeamSearch.search(model(ConstrainedSearchTest::peaked), new int[] {1}, cfg(4, 4)).tokens, hyp.tokens);
    }

    @Test
    void noConstraintsIsPlainBeamSearch() throws BundleException {
        Hypothesis hyp = search(ConstrainedSearchTest::peaked, cfg(4, 8), List.of());
        assertArrayEquals(BeamSearch.search(model(ConstrainedSearchTest::peaked), new int[] {1}, cfg(4, 8)).tokens, hyp.tokens);
        assertArrayEquals(new int[0], hyp.met);
        assertFalse(hyp.constraintsDropped);
    }

    @Test
    void modelCallsDoNotGrowWithTheNumberOfConstraints() throws BundleException {
        int[] terms = {5, 6, 7, 8};
        for (int n : new int[] {1, 2, 4}) {
            TableStep m = model(ConstrainedSearchTest::peaked);
            List<Constraint> cons = new ArrayList<>();
            for (int i = 0; i < n; i++) cons.add(con(new int[] {terms[i]}));
            Hypothesis hyp = ConstrainedSearch.search(m, new int[] {1}, cfg(4, 12), cons, NONE, NONE);
            for (int i = 0; i < n; i++) assertTrue(has(hyp.tokens, terms[i]));
            assertTrue(m.calls <= 12, "calls " + m.calls);
        }
    }

    @Test
    void constraintsAreMetOrTheDropIsFlagged() throws BundleException {
        Random rng = new Random(5);
        for (int trial = 0; trial < 200; trial++) {
            Function<List<Integer>, float[]> table = BeamSearchTest.randomTable(rng.nextLong(), V);
            List<Constraint> cons = new ArrayList<>();
            for (int c = 0, n = 1 + rng.nextInt(3); c < n; c++) {
                int[][] alts = new int[1 + rng.nextInt(2)][];
                for (int a = 0; a < alts.length; a++) alts[a] = rng.ints(1 + rng.nextInt(2), 1, 9).toArray();
                cons.add(new Constraint(alts));
            }
            SearchConfig c = cfg(2 + rng.nextInt(4), 12);
            Hypothesis hyp = search(table, c, cons);
            assertArrayEquals(search(table, c, cons).tokens, hyp.tokens);
            assertFalse(has(hyp.tokens, PAD));
            assertTrue(hyp.tokens.length >= 1 && hyp.tokens.length <= 12);
            if (!hyp.constraintsDropped) {
                for (int i = 0; i < cons.size(); i++) assertTrue(contains(hyp.tokens, cons.get(i).alternative(hyp.met[i])));
            }
        }
    }

    @Test
    void aTermExtendedIntoALongerWordIsUndone() {
        List<Constraint> cons = List.of(con(new int[] {5}));
        ConstraintState s = ConstraintState.start(1).advance(5, cons, false, false);
        assertTrue(s.allMet());
        assertFalse(s.advance(6, cons, true, false).allMet()); // "eats" + "hed": not the term
        assertTrue(s.advance(6, cons, false, false).allMet()); // "eats" + "▁bread": still the term
    }

    @Test
    void aGluedSpellingStartsOnlyAfterANonWordCharacter() {
        List<Constraint> cons = List.of(new Constraint(new int[][] {{5, 6}, {7, 6}}, "ESFRI", new boolean[] {true, false}));
        ConstraintState start = ConstraintState.start(1);
        assertTrue(start.advance(7, cons, false, false).advance(6, cons, false, false).allMet()); // after a quote
        assertFalse(start.advance(7, cons, false, true).advance(6, cons, false, false).allMet()); // inside a word
        assertTrue(start.advance(5, cons, false, true).advance(6, cons, false, false).allMet()); // word-start spelling
        assertArrayEquals(new int[] {5}, start.nextTokens(cons)); // the glued spelling is never proposed
    }

    @Test
    void termsArePlacedBeforeTheLengthLimitWhenTheModelLoops() throws BundleException {
        List<Constraint> cons = List.of(con(new int[] {5, 6}), con(new int[] {7}));
        for (int limit : new int[] {4, 6, 9}) {
            Hypothesis hyp = search(ConstrainedSearchTest::looping, cfg(4, limit), cons);
            assertFalse(hyp.constraintsDropped, "limit " + limit);
            assertTrue(contains(hyp.tokens, new int[] {5, 6}) && has(hyp.tokens, 7) && hyp.tokens.length <= limit);
        }
    }

    @Test
    void tokensNeededCountsTheCheaperOfPartialAndFresh() {
        List<Constraint> cons = List.of(con(new int[] {5, 6, 7}, new int[] {8}), con(new int[] {3, 4}));
        ConstraintState s = ConstraintState.start(2);
        assertEquals(1 + 2, s.tokensNeeded(cons));
        s = s.advance(3, cons, false, false);
        assertEquals(1 + 1, s.tokensNeeded(cons));
        assertEquals(1 + 2, s.freshNeed(cons));
    }

    @Test
    void termsThatFitInTheLengthLimitAreNeverDropped() throws BundleException {
        Random rng = new Random(9);
        for (int trial = 0; trial < 200; trial++) {
            Function<List<Integer>, float[]> table = BeamSearchTest.randomTable(rng.nextLong(), V);
            List<Integer> tokens = new ArrayList<>(List.of(1, 2, 3, 4, 5, 6, 7, 8));
            Collections.shuffle(tokens, rng);
            List<Constraint> cons = new ArrayList<>();
            int used = 0;
            for (int c = 0, n = 1 + rng.nextInt(3); c < n; c++) { // disjoint token sets
                int len = Math.min(1 + rng.nextInt(3), 8 - used); // Python's slice stops at the end too
                cons.add(con(tokens.subList(used, used + len).stream().mapToInt(Integer::intValue).toArray()));
                used += len;
            }
            Hypothesis hyp = search(table, cfg(1 + rng.nextInt(4), used + 1), cons); // every term token, then EOS
            assertFalse(hyp.constraintsDropped, "trial " + trial);
            for (Constraint c : cons) assertTrue(contains(hyp.tokens, c.alternative(0)));
        }
    }

    @Test
    void termsSharingAFirstTokenAreAllPlacedBeforeTheLimit() throws BundleException {
        List<Constraint> cons = List.of(con(new int[] {5, 6}), con(new int[] {5, 7}), con(new int[] {5, 8, 3}));
        Hypothesis hyp = search(ConstrainedSearchTest::looping, cfg(4, 8), cons);
        assertFalse(hyp.constraintsDropped);
        for (Constraint c : cons) assertTrue(contains(hyp.tokens, c.alternative(0)));
    }

    @Test
    void leaveRoomBansTheWordContinuationThatWouldUndoATermAtTheLimit() throws BundleException {
        // the model wants 5 then the continuation 6 ("eats" + "hed") then EOS; at N=3 with forced EOS there is no
        // room to redo the term after 6 undoes it, so 6 is banned after 5 and the term survives
        Function<List<Integer>, float[]> table = p -> {
            double[] x = new double[V];
            Arrays.fill(x, -10.0);
            if (p.isEmpty()) x[5] = 0;
            else if (p.size() == 1) { x[6] = 0; x[2] = -3; }
            else x[EOS] = 0;
            return TableStep.logSoftmax(x);
        };
        List<Constraint> cons = List.of(con(new int[] {5}));
        Hypothesis hyp = ConstrainedSearch.search(model(table), new int[] {1}, cfg(1, 3), cons, v -> v == 6, NONE);
        assertFalse(hyp.constraintsDropped);
        assertFalse(has(hyp.tokens, 6));
        assertArrayEquals(new int[] {5, 2, 0}, hyp.tokens);
        // with room to spare (N=5), 6 is allowed: the term is undone, then placed again
        Hypothesis roomy = ConstrainedSearch.search(model(table), new int[] {1}, cfg(1, 5), cons, v -> v == 6, NONE);
        assertFalse(roomy.constraintsDropped);
        assertTrue(contains(roomy.tokens, new int[] {5}));
    }

    @Test
    void banksShareTheBeamSoAHypothesisWithTheTermSurvives() throws BundleException {
        // K=2, one two-token constraint: banks 0, 1, 2 get 0, 1, 1 slots; the candidate that started the term
        // (bank 1) survives beside the best free one even though its score ranks far below
        Function<List<Integer>, float[]> table = p -> {
            double[] x = new double[V];
            Arrays.fill(x, -20.0);
            x[1] = 0;
            x[2] = -0.5;
            x[5] = -9;
            x[6] = p.size() > 0 && p.get(p.size() - 1) == 5 ? 0 : -9;
            x[EOS] = p.size() >= 2 ? 0 : -20;
            return TableStep.logSoftmax(x);
        };
        List<Constraint> cons = List.of(con(new int[] {5, 6}));
        Hypothesis hyp = search(table, new SearchConfig(2, 6, EOS, PAD, new int[] {PAD}, 1.0, true), cons);
        assertFalse(hyp.constraintsDropped);
        assertTrue(contains(hyp.tokens, new int[] {5, 6}));
        assertArrayEquals(new int[] {0}, hyp.met);
    }

    @Test
    void allocationGivesEachBankItsShareAndTheRemainderToTheHighestBanks() {
        // K=5 over 3 banks: 1 slot each, the 2 left over to banks 2 and 1; taken highest bank first, by score
        float[] scores = {-1f, -2f, -3f, -0.5f, -0.7f, -0.9f, -4f, -5f};
        int[] flats = {10, 11, 12, 20, 21, 22, 30, 31};
        int[] banks = {2, 2, 2, 1, 1, 1, 0, 0};
        assertArrayEquals(new int[] {10, 11, 20, 21, 30}, ConstrainedSearch.allocateForTest(scores, flats, banks, 5, 3));
        // bank 1 is empty: its slots go to the rest of the highest bank first (values checked against Python's _allocate)
        int[] sparse = {2, 2, 2, 2, 0, 0, 0, 0};
        assertArrayEquals(new int[] {20, 10, 21, 11, 12}, ConstrainedSearch.allocateForTest(scores, flats, sparse, 5, 3));
        // equal scores: the lower flat index first
        assertArrayEquals(new int[] {3, 7}, ConstrainedSearch.allocateForTest(new float[] {-1f, -1f, -1f}, new int[] {7, 3, 9},
                new int[] {0, 0, 0}, 2, 1));
        // fewer candidates than slots: all of them
        assertArrayEquals(new int[] {1}, ConstrainedSearch.allocateForTest(new float[] {-1f}, new int[] {1}, new int[] {0}, 4, 2));
    }

    @Test
    void aNanLogProbOrAModelWithNothingFiniteStopsTheConstrainedSearch() {
        List<Constraint> cons = List.of(con(new int[] {5}));
        Function<List<Integer>, float[]> nanAtOne = p -> {
            float[] row = peaked(p);
            if (p.size() == 1) row[3] = Float.NaN;
            return row;
        };
        assertEquals("the model's log-probabilities at step 1 are not finite (NaN or +inf): its weights or graphs are broken",
                assertThrows(BundleException.class, () -> search(nanAtOne, cfg(4, 8), cons)).getMessage());
        float[] dead = new float[V];
        Arrays.fill(dead, Float.NEGATIVE_INFINITY);
        // nothing finished under the constraints, so 8.4 runs section 5, which has nothing finite either
        assertTrue(assertThrows(BundleException.class, () -> search(p -> dead, cfg(4, 8), cons)).getMessage()
                .startsWith("no token has a finite score at step 0: "));
    }

    @Test
    void constraintsThatLeaveNothingFiniteAreDroppedNotAnError() throws BundleException {
        // only EOS is finite, and 8.2 bans it while the term is unmet: the unconstrained search still ends
        float[] eosOnly = new float[V];
        Arrays.fill(eosOnly, Float.NEGATIVE_INFINITY);
        eosOnly[EOS] = 0f;
        Hypothesis hyp = search(p -> eosOnly, cfg(2, 8), List.of(con(new int[] {5})));
        assertTrue(hyp.constraintsDropped);
        assertArrayEquals(new int[] {EOS}, hyp.tokens);
    }

    @Test
    void theLowestPartialTripleNamesTheAlternative() {
        // alternatives (1, 2, 3) and (2, 3) both complete on the 3 of "1 2 3": the partial triples (0, 0, 2)
        // and (0, 1, 1) are visited in sorted order, so alternative 0 is recorded
        List<Constraint> cons = List.of(con(new int[] {1, 2, 3}, new int[] {2, 3}));
        ConstraintState s = ConstraintState.start(1);
        for (int t : new int[] {1, 2, 3}) s = s.advance(t, cons, false, false);
        assertEquals(1, s.met()[0]);
    }

    @Test
    void constraintsNeedNonEmptyAlternatives() {
        assertThrows(IllegalArgumentException.class, () -> new Constraint(new int[0][]));
        assertThrows(IllegalArgumentException.class, () -> new Constraint(new int[][] {{}}));
        assertThrows(IllegalArgumentException.class, () -> new Constraint(new int[][] {{1}}, "", new boolean[] {true, false}));
    }
}
