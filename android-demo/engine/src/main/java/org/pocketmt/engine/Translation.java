package org.pocketmt.engine;

import java.util.List;

/**
 * The result of {@link Translator#translate}: the fields of {@code Translation} in
 * runtime/translator.py. {@code tokenIds} are the generated target ids of every piece in order (EOS
 * included where a piece finished); {@code score} is the mean of the pieces' length-normalised
 * log-probabilities (docs/decoding.md, section 3). {@code shortOutput} and {@code coverageLost} are the
 * 0-based indices of the pieces flagged by the checks of section 1.5.
 */
public record Translation(
        String source,
        String text,
        int[] tokenIds,
        double score,
        boolean finished,
        int segments,
        List<String> warnings,
        List<TermResult> terms,
        boolean constraintsDropped,
        List<Integer> shortOutput,
        List<Integer> coverageLost,
        Timings timings) {
    public Translation {
        tokenIds = tokenIds.clone();
        warnings = List.copyOf(warnings);
        terms = List.copyOf(terms);
        shortOutput = List.copyOf(shortOutput);
        coverageLost = List.copyOf(coverageLost);
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }
}
