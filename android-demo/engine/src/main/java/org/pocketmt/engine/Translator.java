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
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.glossary.Glossary;
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
            return new Translation(text, "", new int[0], 0.0, true, 0, List.of(), List.of(), false, Timings.NONE);
        }
        int maxLen = bundle.manifest().limits.maxSourceLen();
        Segmenter.Segments seg = Segmenter.segment(text, t -> tokenizer.encode(t, true), maxLen, tokenizer.eosId());
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
            Hypothesis hyp = search(pieces.get(i), cfg, perPiece.get(i), out);
            texts.add(tokenizer.decode(hyp.tokens));
            ids = concat(ids, hyp.tokens);
            score += hyp.normalized; // float32 per piece, summed in double as Python does
            finished = finished && hyp.finished;
        }
        List<String> nonEmpty = texts.stream().filter(t -> !t.isEmpty()).collect(java.util.stream.Collectors.toList());
        Timings timings = new Timings(tokenizeMs, (model.encodeNanos - enc0) / 1e6, (model.stepNanos - step0) / 1e6,
                (System.nanoTime() - began) / 1e6, model.steps - steps0);
        return new Translation(text, String.join(" ", nonEmpty), ids, score / pieces.size(), finished,
                pieces.size(), out.warnings, out.terms, out.constraintsDropped, timings);
    }

    /** What the pieces of one text add up to besides their tokens. */
    private static final class Piecewise {
        final List<String> warnings;
        final List<TermResult> terms = new ArrayList<>();
        boolean constraintsDropped;

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

    /** {@code Translator._search}: constraints for the spellable terms, else the plain search. */
    private Hypothesis search(int[] piece, SearchConfig cfg, List<Term> terms, Piecewise out) {
        List<TermConstraint> usable = new ArrayList<>();
        for (Term term : terms) {
            TermConstraint tc = TermConstraints.build(term, tokenizer::targetPieces, tokenizer.pieceToId());
            if (!tc.ok()) {
                out.warnings.add(tc.warning);
            } else {
                usable.add(tc);
            }
        }
        if (usable.isEmpty()) {
            return BeamSearch.search(model, piece, cfg);
        }
        List<Constraint> constraints = usable.stream().map(tc -> tc.constraint).collect(java.util.stream.Collectors.toList());
        Hypothesis hyp = ConstrainedSearch.search(model, piece, cfg, constraints, tokenizer::isWordContinuation,
                tokenizer::isWordEnd);
        out.constraintsDropped = out.constraintsDropped || hyp.constraintsDropped;
        int[] met = hyp.met;
        if (met == null || met.length != usable.size()) {
            met = new int[usable.size()];
            Arrays.fill(met, -1);
        }
        for (int c = 0; c < usable.size(); c++) {
            TermConstraint tc = usable.get(c);
            String produced = met[c] >= 0 ? tc.forms.get(met[c]) : null;
            out.terms.add(new TermResult(tc.term.source, tc.term.targets, produced));
        }
        return hyp;
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
