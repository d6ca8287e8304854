package org.pocketmt.engine;

import java.util.List;
import org.pocketmt.engine.glossary.Glossary;
import org.pocketmt.engine.glossary.Term;

/**
 * Per-call options, each null for the bundle's default (as {@code TranslateOptions} in
 * runtime/translator.py), plus an optional glossary whose terms found in the text must appear in its
 * translation, and terms required for this one text ({@code terms} of {@code translate_one}).
 * Immutable: {@code TranslateOptions.defaults().withBeam(1)}.
 */
public final class TranslateOptions {
    public final Integer beamSize;
    public final Integer maxNewTokens;
    public final Double lengthPenalty;
    public final Glossary glossary;
    public final List<Term> terms;

    private TranslateOptions(Integer beamSize, Integer maxNewTokens, Double lengthPenalty, Glossary glossary,
            List<Term> terms) {
        this.beamSize = beamSize;
        this.maxNewTokens = maxNewTokens;
        this.lengthPenalty = lengthPenalty;
        this.glossary = glossary;
        this.terms = List.copyOf(terms);
    }

    public static TranslateOptions defaults() {
        return new TranslateOptions(null, null, null, null, List.of());
    }

    /** 1 is greedy search; null takes the bundle's {@code decoding.default_beam}. */
    public TranslateOptions withBeam(Integer k) {
        return new TranslateOptions(k, maxNewTokens, lengthPenalty, glossary, terms);
    }

    public TranslateOptions withMaxNewTokens(Integer n) {
        return new TranslateOptions(beamSize, n, lengthPenalty, glossary, terms);
    }

    public TranslateOptions withLengthPenalty(Double alpha) {
        return new TranslateOptions(beamSize, maxNewTokens, alpha, glossary, terms);
    }

    public TranslateOptions withGlossary(Glossary g) {
        return new TranslateOptions(beamSize, maxNewTokens, lengthPenalty, g, terms);
    }

    /** Terms this text must use besides the glossary's; in a split text each goes where its source occurs. */
    public TranslateOptions withTerms(List<Term> t) {
        return new TranslateOptions(beamSize, maxNewTokens, lengthPenalty, glossary, t);
    }
}
