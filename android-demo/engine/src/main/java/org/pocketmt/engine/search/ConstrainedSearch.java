package org.pocketmt.engine.search;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.IntPredicate;
import org.pocketmt.engine.bundle.BundleException;

/**
 * Lexically constrained beam search with Dynamic Beam Allocation (docs/decoding.md, section 8): the Java twin
 * of {@code runtime/constrained_search.py}. The model is called once per step for K rows whatever the number
 * of constraints; only this bookkeeping grows with them.
 */
public final class ConstrainedSearch {
    private ConstrainedSearch() {}

    private static final class Candidate {
        final int row;
        final int token;
        final float score;
        final int flat; // row * V + token: the tie-breaker
        final ConstraintState state;
        final int bank;

        Candidate(int row, int token, float score, int flat, ConstraintState state, int bank) {
            this.row = row;
            this.token = token;
            this.score = score;
            this.flat = flat;
            this.state = state;
            this.bank = bank;
        }
    }

    // by score, highest first (-0.0 equals 0.0, as Python's float comparison), then by lower flat index
    private static final Comparator<Candidate> BY_SCORE = (x, y) ->
            x.score > y.score ? -1 : x.score < y.score ? 1 : Integer.compare(x.flat, y.flat);

    /** 8.3.3: {@code k div banks} slots per bank, the remainder to the highest banks; unfilled slots go to the
     * remaining candidates of the highest bank first, then by score. */
    private static List<Candidate> allocate(List<Candidate> cands, int k, int banks) {
        List<List<Candidate>> groups = new ArrayList<>(banks);
        for (int b = 0; b < banks; b++) groups.add(new ArrayList<>());
        for (Candidate c : cands) groups.get(c.bank).add(c);
        for (List<Candidate> g : groups) g.sort(BY_SCORE);
        int[] alloc = new int[banks];
        Arrays.fill(alloc, k / banks);
        for (int i = 0; i < k % banks; i++) alloc[banks - 1 - i]++;
        List<Candidate> chosen = new ArrayList<>(k);
        List<Candidate> rest = new ArrayList<>();
        for (int b = banks - 1; b >= 0; b--) {
            List<Candidate> g = groups.get(b);
            int take = Math.min(alloc[b], g.size());
            chosen.addAll(g.subList(0, take));
            rest.addAll(g.subList(take, g.size()));
        }
        int more = Math.max(0, Math.min(k - chosen.size(), rest.size()));
        chosen.addAll(rest.subList(0, more)); // rest is already ordered highest bank first
        return chosen;
    }

    /** {@link #allocate} on bare (score, flat index, bank) triples, for tests: the chosen flat indices in order. */
    static int[] allocateForTest(float[] scores, int[] flats, int[] bankOf, int k, int banks) {
        List<Candidate> cands = new ArrayList<>();
        for (int i = 0; i < scores.length; i++) cands.add(new Candidate(0, flats[i], scores[i], flats[i], null, bankOf[i]));
        return allocate(cands, k, banks).stream().mapToInt(c -> c.flat).toArray();
    }

    private static int shortestSum(int[] cs, List<Constraint> constraints) {
        int total = 0;
        for (int c : cs) total += constraints.get(c).shortest();
        return total;
    }

    /** Section 8.5: near the length limit a row may only take tokens after which its unmet constraints fit. */
    private static void leaveRoom(float[] logProbs, int base, int vocab, ConstraintState state,
                                  List<Constraint> constraints, int room, int last,
                                  IntPredicate continuesWord, IntPredicate endsWord) {
        int undo = shortestSum(state.justMetShared(), constraints);
        int fresh = state.freshNeed(constraints);
        if (fresh + undo <= room) return;
        boolean afterWord = endsWord.test(last);
        Set<Integer> keep = new LinkedHashSet<>();
        for (int v : state.nextTokens(constraints)) {
            ConstraintState after = state.advance(v, constraints, continuesWord.test(v), afterWord);
            if (after.tokensNeeded(constraints) <= room) keep.add(v);
        }
        if (fresh <= room) { // only the undo threatens: ban the word continuations that are not kept
            for (int v = 0; v < vocab; v++) {
                if (continuesWord.test(v) && !keep.contains(v)) logProbs[base + v] = Float.NEGATIVE_INFINITY;
            }
        } else if (!keep.isEmpty()) {
            for (int v = 0; v < vocab; v++) {
                if (!keep.contains(v)) logProbs[base + v] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    private static Hypothesis hypothesis(int[] parentTokens, Candidate c, boolean finished, SearchConfig cfg) {
        int[] toks = BeamSearch.append(parentTokens, c.token);
        return new Hypothesis(toks, c.score, BeamSearch.lengthNormalize(c.score, toks.length, cfg.lengthPenalty),
                finished, null, false);
    }

    /**
     * Section 8. The result's {@code met} holds, per constraint, the alternative produced (or -1 for all when
     * {@code constraintsDropped}: no hypothesis could meet them all and this is the unconstrained best).
     */
    public static Hypothesis search(Step model, int[] source, SearchConfig cfg, List<Constraint> constraints,
                                    IntPredicate isWordContinuation, IntPredicate isWordEnd) throws BundleException {
        if (constraints.isEmpty()) return BeamSearch.search(model, source, cfg).withConstraints(new int[0], false);
        int k = cfg.beamSize;
        int banks = 1;
        for (Constraint con : constraints) banks += con.longest();
        model.start(source, k);
        int vocab = model.vocabSize();
        float[] beamScores = new float[k];
        Arrays.fill(beamScores, Float.NEGATIVE_INFINITY);
        beamScores[0] = 0f;
        int[][] beamTokens = new int[k][0];
        ConstraintState[] states = new ConstraintState[k];
        Arrays.fill(states, ConstraintState.start(constraints.size()));
        List<Hypothesis> finished = new ArrayList<>();
        List<ConstraintState> finishedStates = new ArrayList<>();
        for (int t = 0; t < cfg.maxNewTokens; t++) {
            int[] last = new int[k];
            for (int r = 0; r < k; r++) {
                last[r] = beamTokens[r].length > 0 ? beamTokens[r][beamTokens[r].length - 1] : cfg.startId;
            }
            float[] logProbs = model.step(last).clone();
            BeamSearch.mask(logProbs, k, vocab, t, cfg);
            int room = cfg.maxNewTokens - t - 1 - (cfg.forcedEos ? 1 : 0); // tokens that may still follow this one
            for (int r = 0; r < k; r++) { // 8.2: only a hypothesis that met every constraint may end
                if (!states[r].allMet()) logProbs[r * vocab + cfg.eosId] = Float.NEGATIVE_INFINITY;
                leaveRoom(logProbs, r * vocab, vocab, states[r], constraints, room, last[r], isWordContinuation, isWordEnd);
            }
            float[] scores = logProbs;
            for (int r = 0; r < k; r++) {
                for (int v = 0; v < vocab; v++) scores[r * vocab + v] = beamScores[r] + scores[r * vocab + v];
            }
            // 8.3.1: the pairs; their order does not matter (allocation sorts them totally by score, flat index)
            Set<Long> seen = new HashSet<>();
            List<int[]> pairs = new ArrayList<>();
            for (BeamSearch.Candidate c : BeamSearch.topCandidates(scores, k, vocab, 2 * k)) addPair(seen, pairs, c.row, c.token, vocab);
            for (int r = 0; r < k; r++) {
                if (!Float.isFinite(beamScores[r])) continue;
                addPair(seen, pairs, r, BeamSearch.argmax(scores, r * vocab, vocab), vocab);
                for (int v : states[r].nextTokens(constraints)) addPair(seen, pairs, r, v, vocab);
            }
            List<Candidate> cands = new ArrayList<>();
            for (int[] p : pairs) {
                int r = p[0], v = p[1];
                float s = scores[r * vocab + v];
                if (!Float.isFinite(s)) continue;
                ConstraintState state = v == cfg.eosId ? states[r]
                        : states[r].advance(v, constraints, isWordContinuation.test(v), isWordEnd.test(last[r]));
                cands.add(new Candidate(r, v, s, r * vocab + v, state, state.progress(constraints)));
            }
            List<Candidate> chosen = allocate(cands, k, banks);
            List<Candidate> survivors = new ArrayList<>(k);
            for (Candidate c : chosen) {
                if (c.token == cfg.eosId) {
                    finished.add(hypothesis(beamTokens[c.row], c, true, cfg));
                    finishedStates.add(c.state);
                } else {
                    survivors.add(c);
                }
            }
            if (survivors.size() < k) { // 8.3.4: EOS winners leave their slots to the next best continuations
                Set<Candidate> taken = new HashSet<>(chosen);
                List<Candidate> extra = new ArrayList<>();
                for (Candidate c : cands) if (c.token != cfg.eosId && !taken.contains(c)) extra.add(c);
                if (!extra.isEmpty()) survivors.addAll(allocate(extra, k - survivors.size(), banks));
            }
            boolean atLimit = t == cfg.maxNewTokens - 1;
            if (finished.size() >= k || survivors.isEmpty() || atLimit) {
                if (atLimit && finished.size() < k) {
                    for (Candidate c : survivors) {
                        if (c.state.allMet() && finished.size() < k) {
                            finished.add(hypothesis(beamTokens[c.row], c, false, cfg));
                            finishedStates.add(c.state);
                        }
                    }
                }
                break;
            }
            while (survivors.size() < k) {
                Candidate first = survivors.get(0);
                survivors.add(new Candidate(first.row, first.token, Float.NEGATIVE_INFINITY, first.flat, first.state, first.bank));
            }
            int[] parents = new int[k];
            int[][] tokens = new int[k][];
            for (int i = 0; i < k; i++) {
                Candidate c = survivors.get(i);
                parents[i] = c.row;
                tokens[i] = BeamSearch.append(beamTokens[c.row], c.token);
                beamScores[i] = c.score;
                states[i] = c.state;
            }
            model.reorder(parents);
            beamTokens = tokens;
        }
        if (finished.isEmpty()) { // 8.4: no hypothesis met every constraint within the length limit
            int[] none = new int[constraints.size()];
            Arrays.fill(none, -1);
            return BeamSearch.search(model, source, cfg).withConstraints(none, true);
        }
        int best = BeamSearch.bestIndex(finished);
        int[] met = finishedStates.get(best).met();
        for (int c = 0; c < met.length; c++) met[c] -= 1;
        return finished.get(best).withConstraints(met, false);
    }

    /** {@link #search} without word information: no token continues or ends a word (Python's defaults). */
    public static Hypothesis search(Step model, int[] source, SearchConfig cfg, List<Constraint> constraints)
            throws BundleException {
        return search(model, source, cfg, constraints, v -> false, v -> false);
    }

    private static void addPair(Set<Long> seen, List<int[]> pairs, int row, int token, int vocab) {
        if (seen.add((long) row * vocab + token)) pairs.add(new int[] {row, token});
    }
}
