package org.pocketmt.engine;

import org.pocketmt.engine.glossary.Glossary;

/**
 * Per-call options, each null for the bundle's default (as {@code TranslateOptions} in
 * runtime/translator.py), plus an optional glossary whose terms found in the text must appear in its
 * translation. Immutable: {@code TranslateOptions.defaults().withBeam(1)}.
 */
public final class TranslateOptions {
    public final Integer beamSize;
    public final Integer maxNewTokens;
    public final Double lengthPenalty;
    public final Glossary glossary;

    private TranslateOptions(Integer beamSize, Integer maxNewTokens, Double lengthPenalty, Glossary glossary) {
        this.beamSize = beamSize;
        this.maxNewTokens = maxNewTokens;
        this.lengthPenalty = lengthPenalty;
        this.glossary = glossary;
    }

    public static TranslateOptions defaults() {
        return new TranslateOptions(null, null, null, null);
    }

    /** 1 is greedy search; null takes the bundle's {@code decoding.default_beam}. */
    public TranslateOptions withBeam(Integer k) {
        return new TranslateOptions(k, maxNewTokens, lengthPenalty, glossary);
    }

    public TranslateOptions withMaxNewTokens(Integer n) {
        return new TranslateOptions(beamSize, n, lengthPenalty, glossary);
    }

    public TranslateOptions withLengthPenalty(Double alpha) {
        return new TranslateOptions(beamSize, maxNewTokens, alpha, glossary);
    }

    public TranslateOptions withGlossary(Glossary g) {
        return new TranslateOptions(beamSize, maxNewTokens, lengthPenalty, g);
    }
}
