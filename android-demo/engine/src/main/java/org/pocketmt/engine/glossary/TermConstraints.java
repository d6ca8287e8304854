package org.pocketmt.engine.glossary;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.pocketmt.engine.search.Constraint;

/**
 * Glossary terms to search constraints (docs/decoding.md, section 9.2), as {@code runtime/term_constraints.py}.
 * A form's subword spelling depends on its context: after a space its first piece carries the word-start
 * marker ({@code ▁Haus}), glued to a quote or hyphen it does not ({@code Haus}). Both, for the form as written
 * and with its first letter upper-cased (a sentence start), are alternatives of one constraint; the glued
 * ones are tracked but never proposed by the search.
 */
public final class TermConstraints {
    private TermConstraints() {}

    private static final String WORD_START = "\u2581";

    /** The form as written and with its first code point upper-cased (Python's {@code form[:1].upper()}). */
    private static List<String> variants(String form) {
        String first = PyText.head(form, 1);
        Set<String> out = new LinkedHashSet<>();
        out.add(form);
        out.add(PyText.upper(first) + form.substring(first.length()));
        return new ArrayList<>(out);
    }

    /**
     * The constraint for {@code term}, or a result carrying the warning that names what cannot be spelled.
     * {@code targetPieces}: the target SentencePiece pieces of a text; {@code vocab}: piece -> id.
     */
    public static TermConstraint build(Term term, Function<String, List<String>> targetPieces, Map<String, Integer> vocab) {
        Map<List<Integer>, String> alts = new LinkedHashMap<>(); // spelling -> the form it spells, first one wins
        Set<List<Integer>> glued = new HashSet<>();
        boolean unspellable = false;
        for (String form : term.targets) {
            if (PyText.strip(form).isEmpty()) continue;
            for (String variant : variants(PyText.strip(form))) {
                List<String> pieces = targetPieces.apply(variant);
                if (pieces.isEmpty() || !pieces.stream().allMatch(vocab::containsKey)) {
                    unspellable = true;
                    continue;
                }
                List<Integer> ids = new ArrayList<>();
                for (String p : pieces) ids.add(vocab.get(p));
                alts.putIfAbsent(ids, form);
                String first = pieces.get(0);
                List<Integer> bare = first.equals(WORD_START) ? new ArrayList<>(ids.subList(1, ids.size())) : null;
                if (first.startsWith(WORD_START) && vocab.containsKey(first.substring(WORD_START.length()))) {
                    bare = new ArrayList<>();
                    bare.add(vocab.get(first.substring(WORD_START.length())));
                    bare.addAll(ids.subList(1, ids.size()));
                }
                if (bare != null && !bare.isEmpty() && !alts.containsKey(bare)) {
                    alts.put(bare, form);
                    glued.add(bare);
                }
            }
        }
        if (alts.isEmpty()) {
            List<String> shown = new ArrayList<>();
            for (String f : term.targets) shown.add(PyText.repr(f));
            String what = shown.isEmpty() ? "(empty)" : String.join(", ", shown);
            String reason = unspellable ? "characters the vocabulary lacks" : "no target form";
            return new TermConstraint(term, null, null, "target term " + what + " for " + PyText.repr(term.source)
                    + " cannot be tokenized (" + reason + "); skipped");
        }
        int[][] alternatives = new int[alts.size()][];
        boolean[] proposed = new boolean[alts.size()];
        int a = 0;
        for (List<Integer> alt : alts.keySet()) {
            alternatives[a] = alt.stream().mapToInt(Integer::intValue).toArray();
            proposed[a] = !glued.contains(alt);
            a++;
        }
        return new TermConstraint(term, new Constraint(alternatives, term.source, proposed), new ArrayList<>(alts.values()), null);
    }
}
