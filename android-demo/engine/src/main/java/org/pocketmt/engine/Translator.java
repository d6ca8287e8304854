package org.pocketmt.engine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.pocketmt.engine.bundle.Bundle;
import org.pocketmt.engine.bundle.BundleException;
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.glossary.Glossary;
import org.pocketmt.engine.glossary.PyText;
import org.pocketmt.engine.glossary.GlossaryException;
import org.pocketmt.engine.glossary.Term;
import org.pocketmt.engine.glossary.TermConstraint;
import org.pocketmt.engine.glossary.TermConstraints;
import org.pocketmt.engine.search.BeamSearch;
import org.pocketmt.engine.search.ConstrainedSearch;
import org.pocketmt.engine.search.Constraint;
import org.pocketmt.engine.search.Hypothesis;
import org.pocketmt.engine.search.SearchConfig;
import org.pocketmt.engine.search.Segmenter;
import org.pocketmt.engine.search.Step;
import org.pocketmt.engine.tokenizer.MarianTokenizer;
import org.pocketmt.engine.tokenizer.PythonText;
import org.pocketmt.engine.tokenizer.TokenizerException;

/**
 * Translate with a bundle: {@link #open}, {@link #translate}, {@link #close}. Token for token the
 * same as {@code Translator.translate_one} in runtime/translator.py (segmentation, glossary terms
 * per piece, search, score and text joining); the model is whatever {@link StepFactory} opens. Not
 * thread-safe: one translation at a time per translator (the model's cache is one).
 */
public final class Translator implements AutoCloseable {
    private final Bundle bundle;
    private final MarianTokenizer tokenizer;
    private final TimedStep model;

    private Translator(Bundle bundle, MarianTokenizer tokenizer, TimedStep model) {
        this.bundle = bundle;
        this.tokenizer = tokenizer;
        this.model = model;
    }

    /**
     * Open a bundle folder: the manifest is read, the tokenizer's and the default backend's files are
     * checked (size and sha256) before anything is loaded, then {@code steps} opens the model.
     */
    public static Translator open(Path bundleDir, StepFactory steps) throws PocketMtException {
        return open(bundleDir, steps, null);
    }

    /** As {@link #open(Path, StepFactory)}, checking the files of {@code backend} (null: the bundle's default). */
    public static Translator open(Path bundleDir, StepFactory steps, String backend) throws PocketMtException {
        Bundle bundle = Bundle.open(bundleDir);
        bundle.checkBackendFiles(bundle.resolveBackend(backend));
        Manifest.Tokenizer tok = bundle.manifest().tokenizer;
        MarianTokenizer tokenizer;
        try {
            tokenizer = MarianTokenizer.load(bundle.file(tok.sourceSpm()), bundle.file(tok.targetSpm()),
                    bundle.file(tok.vocab()));
        } catch (TokenizerException e) {
            throw new PocketMtException(e.getMessage(), e);
        }
        Step step = steps.open(bundle);
        if (step.vocabSize() != bundle.manifest().model.vocabSize()) {
            new Translator(bundle, tokenizer, new TimedStep(step)).close(); // do not leave a server behind
            throw new PocketMtException("the model's vocabulary has " + step.vocabSize() + " entries, "
                    + bundle.path() + "'s manifest says " + bundle.manifest().model.vocabSize());
        }
        return new Translator(bundle, tokenizer, new TimedStep(step));
    }

    public Manifest manifest() {
        return bundle.manifest();
    }

    public MarianTokenizer tokenizer() {
        return tokenizer;
    }

    /** The search settings: the bundle's defaults, overridden by {@code options} within its limits. */
    public SearchConfig searchConfig(TranslateOptions options) throws PocketMtException {
        Manifest m = bundle.manifest();
        TranslateOptions o = options != null ? options : TranslateOptions.defaults();
        int beam = o.beamSize != null ? o.beamSize : m.decoding.defaultBeam();
        if (beam < 1 || beam > m.limits.maxBatch()) {
            throw new PocketMtException("beam size " + beam + " is outside 1.." + m.limits.maxBatch()
                    + " (this bundle's max batch)");
        }
        int maxNew = o.maxNewTokens != null ? o.maxNewTokens : m.limits.maxTargetLen();
        if (maxNew < 1 || maxNew > m.limits.maxTargetLen()) {
            throw new PocketMtException("max new tokens " + maxNew + " is outside 1.." + m.limits.maxTargetLen());
        }
        double alpha = o.lengthPenalty != null ? o.lengthPenalty : m.decoding.lengthPenalty();
        return new SearchConfig(beam, maxNew, m.tokens.eosId(), m.tokens.decoderStartId(), m.decoding.bannedIds(),
                alpha, m.decoding.forcedEos());
    }

    /** Translate one text; the glossary's terms found in it must appear in the translation. */
    public Translation translate(String text, TranslateOptions options) throws PocketMtException {
        SearchConfig cfg = searchConfig(options);
        Glossary glossary = options != null ? options.glossary : null;
        long began = System.nanoTime();
        if (PythonText.strip(text).isEmpty()) {
            return new Translation(text, "", new int[0], 0.0, true, 0, List.of(), List.of(), false, List.of(), List.of(),
                    Timings.NONE);
        }
        int maxLen = bundle.manifest().limits.maxSourceLen();
        Segmenter.Segments seg = Segmenter.segment(text, t -> tokenizer.encode(t, true), maxLen, tokenizer.eosId(),
                bundle.manifest().model.sourceLang());
        List<List<Term>> perPiece = termsPerPiece(seg, glossary, options != null ? options.terms : List.of());
        double tokenizeMs = (System.nanoTime() - began) / 1e6;
        long enc0 = model.encodeNanos, step0 = model.stepNanos;
        int steps0 = model.steps;
        Piecewise out = new Piecewise(new ArrayList<>(seg.warnings));
        List<String> texts = new ArrayList<>();
        int[] ids = new int[0];
        double score = 0.0;
        boolean finished = true;
        List<int[]> pieces = seg.pieces;
        for (int i = 0; i < pieces.size(); i++) {
            int[] termTokens = search(pieces.get(i), cfg, perPiece.get(i), out);
            Hypothesis hyp = out.last;
            checkLength(i, pieces.size(), pieces.get(i), hyp, termTokens, out);
            texts.add(tokenizer.decode(hyp.tokens));
            ids = concat(ids, hyp.tokens);
            score += hyp.normalized; // float32 per piece, summed in double as Python does
            finished = finished && hyp.finished;
        }
        List<String> nonEmpty = texts.stream().filter(t -> !t.isEmpty()).collect(java.util.stream.Collectors.toList());
        Timings timings = new Timings(tokenizeMs, (model.encodeNanos - enc0) / 1e6, (model.stepNanos - step0) / 1e6,
                (System.nanoTime() - began) / 1e6, model.steps - steps0);
        return new Translation(text, String.join(" ", nonEmpty), ids, score / pieces.size(), finished,
                pieces.size(), out.warnings, out.terms, out.constraintsDropped, out.shortOutput, out.coverageLost, timings);
    }

    private static int countNot(int[] ids, int eos) {
        int n = 0;
        for (int id : ids) if (id != eos) n++;
        return n;
    }

    /** {@code _check_length} (docs/decoding.md, section 1.5): the short_output and coverage_lost flags of piece i. */
    private void checkLength(int i, int count, int[] piece, Hypothesis hyp, int[] termTokens, Piecewise out) {
        int eos = tokenizer.eosId();
        int source = countNot(piece, eos), target = countNot(hyp.tokens, eos);
        String where = "piece " + (i + 1) + " of " + count;
        if (Coverage.tooShort(source, target)) {
            out.shortOutput.add(i);
            out.warnings.add(where + ": " + target + " target tokens for " + source + " source tokens (under half): "
                    + "part of the source may be missing from the translation");
        }
        if (termTokens != null) {
            int restSource = Math.max(0, source - termTokens[0]), restTarget = Math.max(0, target - termTokens[1]);
            if (Coverage.tooShort(restSource, restTarget)) {
                out.coverageLost.add(i);
                out.warnings.add(where + ": besides its terms, " + restTarget + " target tokens for " + restSource
                        + " source tokens (under half): the terms may have cost the rest of the sentence");
            }
        }
    }

    /** runtime/coverage.py: the length rule and the spelling of a target form (docs/decoding.md, section 1.5). */
    static final class Coverage {
        static final int MIN_SOURCE_TOKENS = 6;
        static final String OK = "ok", BYTE_FALLBACK = "byte_fallback", UNKNOWN = "unknown";
        private static final java.util.regex.Pattern BYTE_PIECE = java.util.regex.Pattern.compile("<0x[0-9A-F]{2}>");

        private Coverage() {}

        static boolean tooShort(int sourceTokens, int targetTokens) {
            return sourceTokens >= MIN_SOURCE_TOKENS && targetTokens * 2 < sourceTokens;
        }

        static String pieceSpelling(List<String> pieces, Map<String, Integer> vocab, int unkId) {
            if (pieces.isEmpty()) return UNKNOWN;
            for (String p : pieces) {
                if (vocab.getOrDefault(p, unkId) == unkId) return UNKNOWN;
            }
            for (String p : pieces) {
                if (BYTE_PIECE.matcher(p).matches()) return BYTE_FALLBACK;
            }
            return OK;
        }

        static int rank(String spelling) {
            return spelling.equals(OK) ? 0 : spelling.equals(BYTE_FALLBACK) ? 1 : 2;
        }
    }

    /** {@code _spelling}: the term's worst target form's spelling, and its warning (null when none). */
    private String[] spelling(Term term) {
        List<String> forms = new ArrayList<>();
        for (String f : term.targets) {
            String s = PyText.strip(f);
            if (!s.isEmpty()) forms.add(s);
        }
        List<String> each = new ArrayList<>();
        for (String f : forms) each.add(Coverage.pieceSpelling(tokenizer.targetPieces(f), tokenizer.pieceToId(), tokenizer.unkId()));
        String worst = Coverage.UNKNOWN;
        if (!each.isEmpty()) {
            worst = each.get(0);
            for (String s : each) if (Coverage.rank(s) > Coverage.rank(worst)) worst = s;
        }
        if (worst.equals(Coverage.OK) || each.stream().allMatch(Coverage.UNKNOWN::equals)) {
            return new String[] {worst, null};
        }
        List<String> named = new ArrayList<>();
        for (int i = 0; i < forms.size(); i++) if (each.get(i).equals(worst)) named.add(PyText.repr(forms.get(i)));
        String which = "target term " + String.join(", ", named) + " for " + PyText.repr(term.source);
        if (worst.equals(Coverage.BYTE_FALLBACK)) {
            return new String[] {worst, which + " is spelled with byte-fallback pieces (characters the model's vocabulary "
                    + "lacks): the rest of the sentence may suffer"};
        }
        return new String[] {worst, which + " has pieces the vocabulary lacks; skipped"};
    }

    /** What the pieces of one text add up to besides their tokens. */
    private static final class Piecewise {
        final List<String> warnings;
        final List<TermResult> terms = new ArrayList<>();
        final List<Integer> shortOutput = new ArrayList<>();
        final List<Integer> coverageLost = new ArrayList<>();
        boolean constraintsDropped;
        Hypothesis last; // the piece just searched

        Piecewise(List<String> warnings) {
            this.warnings = warnings;
        }
    }

    /**
     * {@code _terms_per_piece}: glossary matches of each piece's own text (a cut chunk's text is read
     * back from its ids); given terms go to the piece whose text holds their source, else to the first.
     */
    private List<List<Term>> termsPerPiece(Segmenter.Segments seg, Glossary glossary, List<Term> terms)
            throws PocketMtException {
        List<String> sources = new ArrayList<>();
        List<List<Term>> perPiece = new ArrayList<>();
        for (int i = 0; i < seg.pieces.size(); i++) {
            String t = seg.texts.get(i);
            sources.add(t != null ? t : tokenizer.sourceText(seg.pieces.get(i)));
            List<Term> found = new ArrayList<>();
            if (glossary != null) {
                glossary.match(sources.get(i)).forEach(m -> found.add(m.term));
            }
            perPiece.add(found);
        }
        if (perPiece.size() == 1) {
            perPiece.get(0).addAll(terms);
        } else if (!terms.isEmpty()) {
            Glossary given;
            try {
                given = Glossary.fromTerms(terms, "last", "glossary");
            } catch (GlossaryException e) {
                throw new PocketMtException(e.getMessage(), e);
            }
            Set<String> placed = new HashSet<>();
            for (int i = 0; i < sources.size(); i++) {
                for (Glossary.Match m : given.match(sources.get(i))) {
                    if (placed.add(m.term.source)) {
                        perPiece.get(i).add(m.term);
                    }
                }
            }
            given.terms().stream().filter(t -> !placed.contains(t.source)).forEach(perPiece.get(0)::add);
        }
        List<List<Term>> unique = new ArrayList<>();
        for (List<Term> piece : perPiece) {
            // one term per source: the last one's value in the first one's place, as a Python dict keeps them
            Map<String, Term> bySource = new LinkedHashMap<>();
            piece.forEach(t -> bySource.put(t.source, t));
            unique.add(new ArrayList<>(bySource.values()));
        }
        return unique;
    }

    /**
     * {@code Translator._search}: constraints for the spellable terms, else the plain search; the hypothesis is
     * left in {@code out.last}. Returns, for a search that met its terms, the source and target tokens the met
     * terms take (the coverage check of section 1.5), else null.
     */
    private int[] search(int[] piece, SearchConfig cfg, List<Term> terms, Piecewise out) throws BundleException {
        List<TermConstraint> built = new ArrayList<>();
        List<String> spellings = new ArrayList<>();
        List<TermConstraint> usable = new ArrayList<>();
        for (Term term : terms) {
            TermConstraint tc = TermConstraints.build(term, tokenizer::targetPieces, tokenizer.pieceToId());
            String[] spelling = spelling(term);
            if (!tc.ok()) {
                out.warnings.add(tc.warning);
            } else {
                if (spelling[1] != null) out.warnings.add(spelling[1]);
                usable.add(tc);
            }
            built.add(tc);
            spellings.add(spelling[0]);
        }
        if (usable.isEmpty()) {
            out.last = BeamSearch.search(model, piece, cfg);
            for (int t = 0; t < terms.size(); t++) {
                out.terms.add(new TermResult(terms.get(t).source, terms.get(t).targets, null, spellings.get(t)));
            }
            return null;
        }
        List<Constraint> constraints = usable.stream().map(tc -> tc.constraint).collect(java.util.stream.Collectors.toList());
        Hypothesis hyp = ConstrainedSearch.search(model, piece, cfg, constraints, tokenizer::isWordContinuation,
                tokenizer::isWordEnd);
        out.last = hyp;
        out.constraintsDropped = out.constraintsDropped || hyp.constraintsDropped;
        int[] met = hyp.met;
        if (met == null || met.length != usable.size()) {
            met = new int[usable.size()];
            Arrays.fill(met, -1);
        }
        int c = 0, sourceTokens = 0, targetTokens = 0;
        for (int t = 0; t < terms.size(); t++) {
            TermConstraint tc = built.get(t);
            int alt = tc.ok() ? met[c++] : -1;
            String produced = alt >= 0 ? tc.forms.get(alt) : null;
            out.terms.add(new TermResult(terms.get(t).source, terms.get(t).targets, produced, spellings.get(t)));
            if (alt >= 0) {
                sourceTokens += tokenizer.encode(terms.get(t).source, false).length;
                targetTokens += tc.constraint.alternative(alt).length;
            }
        }
        return hyp.constraintsDropped ? null : new int[] {sourceTokens, targetTokens};
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Ends the model (the step server's process, or the ExecuTorch module). */
    @Override
    public void close() {
        if (model.inner instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                // closing is best effort: the translation results are already out
            }
        }
    }
}
