package org.pocketmt.engine.search;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.pocketmt.engine.bundle.BundleException;

/**
 * Greedy and beam search: a direct reading of docs/decoding.md (sections 2-7), and the Java twin of
 * {@code runtime/beam_search.py}. Every sum is a float32 addition in the order Python's numpy does it, so
 * the two give the same tokens and the same score bits for the same log-probs.
 */
public final class BeamSearch {
    private BeamSearch() {}

    /** One candidate of section 5.2: the row it extends, its token and its float32 score. */
    static final class Candidate {
        final int row;
        final int token;
        final float score;

        Candidate(int row, int token, float score) {
            this.row = row;
            this.token = token;
            this.score = score;
        }
    }

    /** Section 3, as {@code np.float32(score) / np.float32(float(length) ** alpha)}. */
    public static float lengthNormalize(float score, int length, double alpha) {
        return score / (float) Math.pow(length, alpha);
    }

    /**
     * Section 2, in place on {@code rows} rows of width {@code vocab}: banned ids, then forced EOS. A NaN or
     * {@code +inf} left after masking (in any row, dead ones included) is a broken model, not a score: item 3
     * stops the search with an error, as {@code mask_log_probs} does.
     */
    static void mask(float[] logProbs, int rows, int vocab, int t, SearchConfig cfg) throws BundleException {
        int[] banned = cfg.bannedIdsShared();
        for (int r = 0; r < rows; r++) {
            int base = r * vocab;
            for (int id : banned) logProbs[base + id] = Float.NEGATIVE_INFINITY;
            if (cfg.forcedEos && t == cfg.maxNewTokens - 1) {
                float eos = logProbs[base + cfg.eosId];
                Arrays.fill(logProbs, base, base + vocab, Float.NEGATIVE_INFINITY);
                logProbs[base + cfg.eosId] = eos;
            }
        }
        for (int i = 0; i < rows * vocab; i++) {
            if (!(logProbs[i] < Float.POSITIVE_INFINITY)) { // false for NaN and +inf, true for -inf
                throw new BundleException("the model's log-probabilities at step " + t
                        + " are not finite (NaN or +inf): its weights or graphs are broken");
            }
        }
    }

    /** Section 2, item 3: the masks (or the model) left every token at {@code -inf}: nothing can be generated. */
    static BundleException noFiniteCandidate(int t) {
        return new BundleException("no token has a finite score at step " + t + ": the model gives every allowed"
                + " token probability 0 (or the bundle's banned ids and forced EOS exclude them all)");
    }

    /** numpy's argmax over one row: the first maximum, so the lowest id wins ties. */
    static int argmax(float[] values, int from, int length) {
        int best = 0;
        for (int v = 1; v < length; v++) {
            if (values[from + v] > values[from + best]) best = v;
        }
        return best;
    }

    static int[] append(int[] tokens, int token) {
        int[] out = Arrays.copyOf(tokens, tokens.length + 1);
        out[tokens.length] = token;
        return out;
    }

    static Hypothesis singleRow(int[] tokens, float score, SearchConfig cfg) {
        boolean finished = tokens.length > 0 && tokens[tokens.length - 1] == cfg.eosId;
        return new Hypothesis(tokens, score, lengthNormalize(score, tokens.length, cfg.lengthPenalty), finished,
                null, false);
    }

    /** Section 4. */
    public static Hypothesis greedy(Step model, int[] source, SearchConfig cfg) throws BundleException {
        model.start(source, 1);
        int vocab = model.vocabSize();
        int[] tokens = new int[0];
        float score = 0f;
        int last = cfg.startId;
        for (int t = 0; t < cfg.maxNewTokens; t++) {
            float[] logProbs = model.step(new int[] {last}).clone();
            mask(logProbs, 1, vocab, t, cfg);
            int best = argmax(logProbs, 0, vocab);
            if (logProbs[best] == Float.NEGATIVE_INFINITY) throw noFiniteCandidate(t);
            score = score + logProbs[best];
            tokens = append(tokens, best);
            last = best;
            if (best == cfg.eosId) break;
        }
        return singleRow(tokens, score, cfg);
    }

    /** Section 7: the score this model gives a fixed token sequence (forced decoding, masks applied). */
    public static Hypothesis scoreTokens(Step model, int[] source, int[] tokens, SearchConfig cfg)
            throws BundleException {
        model.start(source, 1);
        int vocab = model.vocabSize();
        float score = 0f;
        int last = cfg.startId;
        for (int t = 0; t < tokens.length; t++) {
            float[] logProbs = model.step(new int[] {last}).clone();
            mask(logProbs, 1, vocab, t, cfg);
            score = score + logProbs[tokens[t]];
            last = tokens[t];
        }
        return singleRow(tokens.clone(), score, cfg);
    }

    /**
     * Section 5.2: the {@code count} best finite candidates, best first; equal scores by the lower flat index.
     * The same list as a stable sort of all rows*V scores, truncated to {@code count}, then stripped of
     * non-finite scores (as Python's {@code top_candidates}), without sorting rows*V entries.
     */
    static List<Candidate> topCandidates(float[] scores, int rows, int vocab, int count) {
        int size = rows * vocab;
        count = Math.min(count, size);
        int[] index = new int[count];
        float[] value = new float[count];
        int filled = 0;
        for (int i = 0; i < size; i++) {
            float s = scores[i];
            if (Float.isNaN(s)) continue;
            if (filled == count && !(s > value[count - 1])) continue; // a later index loses an equal score
            int at = filled == count ? count - 1 : filled;
            while (at > 0 && s > value[at - 1]) {
                index[at] = index[at - 1];
                value[at] = value[at - 1];
                at--;
            }
            index[at] = i;
            value[at] = s;
            if (filled < count) filled++;
        }
        List<Candidate> out = new ArrayList<>(filled);
        for (int n = 0; n < filled; n++) {
            if (Float.isFinite(value[n])) out.add(new Candidate(index[n] / vocab, index[n] % vocab, value[n]));
        }
        return out;
    }

    /** 5.6: best normalized score; ties go to the hypothesis that finished first. */
    static int bestIndex(List<Hypothesis> finished) {
        int best = 0;
        for (int i = 1; i < finished.size(); i++) {
            if (finished.get(i).normalized > finished.get(best).normalized) best = i;
        }
        return best;
    }

    /** Section 5 ({@code K = 1} is section 4). */
    public static Hypothesis search(Step model, int[] source, SearchConfig cfg) throws BundleException {
        int k = cfg.beamSize;
        if (k == 1) return greedy(model, source, cfg);
        model.start(source, k);
        int vocab = model.vocabSize();
        // 5.1: row 0 is the only live hypothesis at first; the others wait at -inf
        float[] beamScores = new float[k];
        Arrays.fill(beamScores, Float.NEGATIVE_INFINITY);
        beamScores[0] = 0f;
        int[][] beamTokens = new int[k][0];
        List<Hypothesis> finished = new ArrayList<>();
        for (int t = 0; t < cfg.maxNewTokens; t++) {
            int[] last = new int[k];
            for (int r = 0; r < k; r++) {
                last[r] = beamTokens[r].length > 0 ? beamTokens[r][beamTokens[r].length - 1] : cfg.startId;
            }
            float[] scores = model.step(last).clone();
            mask(scores, k, vocab, t, cfg);
            for (int r = 0; r < k; r++) {
                for (int v = 0; v < vocab; v++) scores[r * vocab + v] = beamScores[r] + scores[r * vocab + v];
            }
            List<Candidate> next = advance(scores, k, vocab, beamTokens, finished, t, cfg);
            if (next == null) {
                if (finished.isEmpty()) throw noFiniteCandidate(t); // 5.4 stopped: no survivors, nothing finished
                break;
            }
            int[] parents = new int[k];
            int[][] tokens = new int[k][];
            for (int i = 0; i < k; i++) {
                Candidate c = next.get(i);
                parents[i] = c.row;
                tokens[i] = append(beamTokens[c.row], c.token);
                beamScores[i] = c.score;
            }
            model.reorder(parents);
            beamTokens = tokens;
        }
        if (finished.isEmpty()) throw new IllegalStateException("the search produced no hypothesis (every score is -inf)");
        return finished.get(bestIndex(finished));
    }

    /**
     * Sections 5.2-5.5 at step {@code t}: appends what finishes to {@code finished} and returns the K
     * candidates of the next beam, or null when the search stops.
     */
    private static List<Candidate> advance(float[] scores, int k, int vocab, int[][] beamTokens,
                                           List<Hypothesis> finished, int t, SearchConfig cfg) {
        List<Candidate> next = new ArrayList<>(k);
        List<Candidate> top = topCandidates(scores, k, vocab, 2 * k);
        for (int rank = 0; rank < top.size(); rank++) {
            Candidate c = top.get(rank);
            if (c.token == cfg.eosId) {
                if (rank < k) { // 5.3: an EOS candidate finishes only if it ranks within the beam
                    int[] toks = append(beamTokens[c.row], c.token);
                    finished.add(new Hypothesis(toks, c.score, lengthNormalize(c.score, toks.length, cfg.lengthPenalty),
                            true, null, false));
                }
            } else {
                next.add(c);
            }
            if (next.size() == k) break;
        }
        boolean atLimit = t == cfg.maxNewTokens - 1;
        if (finished.size() >= k || next.isEmpty() || atLimit) { // 5.4
            if (atLimit && finished.size() < k) {
                int room = k - finished.size();
                for (int i = 0; i < Math.min(room, next.size()); i++) {
                    Candidate c = next.get(i);
                    int[] toks = append(beamTokens[c.row], c.token);
                    finished.add(new Hypothesis(toks, c.score, lengthNormalize(c.score, toks.length, cfg.lengthPenalty),
                            false, null, false));
                }
            }
            return null;
        }
        while (next.size() < k) { // 5.5: pad with dead rows
            Candidate first = next.get(0);
            next.add(new Candidate(first.row, first.token, Float.NEGATIVE_INFINITY));
        }
        return next;
    }
}
