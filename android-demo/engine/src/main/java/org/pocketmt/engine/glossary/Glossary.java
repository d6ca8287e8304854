package org.pocketmt.engine.glossary;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A glossary and its source-side matching (docs/decoding.md, section 9.1), as {@code runtime/glossary.py}:
 * text and terms are compared after NFKC and case folding, word by word, where a word is a maximal run of
 * code points for which Python's {@code str.isalnum()} holds. Scanning left to right, the longest term
 * starting at a word wins and the scan resumes after it (leftmost, then longest; never overlapping).
 */
public final class Glossary {
    /** A term found in a text: words {@code [startWord, endWord)} of {@link #words}. */
    public static final class Match {
        public final Term term;
        public final int startWord;
        public final int endWord;

        Match(Term term, int startWord, int endWord) {
            this.term = term;
            this.startWord = startWord;
            this.endWord = endWord;
        }
    }

    /** A word-level trie node; {@code term} marks a complete entry. */
    private static final class Node {
        final Map<String, Node> next = new HashMap<>();
        Term term;
    }

    private final List<Term> terms = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();
    private final Node root = new Node();

    private Glossary() {}

    public List<Term> terms() {
        return Collections.unmodifiableList(terms);
    }

    public List<String> warnings() {
        return Collections.unmodifiableList(warnings);
    }

    public int size() {
        return terms.size();
    }

    /** {@code words(text)}: the NFKC + casefold words of a text. */
    public static List<String> words(String text) {
        return PyText.alnumRuns(PyText.normalize(text));
    }

    private static Set<String> normalizedTargets(Term t) {
        Set<String> out = new HashSet<>();
        for (String f : t.targets) out.add(PyText.normalize(f));
        return out;
    }

    public static Glossary fromTerms(List<Term> terms) throws GlossaryException {
        return fromTerms(terms, "error", "glossary");
    }

    /**
     * Entries with equal normalized source words but different target sets conflict: an error listing them
     * ({@code onConflict} "error"), or the first or the last of them wins; identical duplicates merge (the last
     * one's spelling is kept, in the first one's place).
     */
    public static Glossary fromTerms(List<Term> terms, String onConflict, String where) throws GlossaryException {
        if (!onConflict.equals("error") && !onConflict.equals("first") && !onConflict.equals("last")) {
            throw new GlossaryException("--on-conflict must be error, first or last, not " + PyText.repr(onConflict));
        }
        Map<List<String>, Term> byKey = new LinkedHashMap<>();
        List<String> conflicts = new ArrayList<>();
        Glossary glossary = new Glossary();
        for (Term term : terms) {
            List<String> key = words(term.source);
            if (key.isEmpty()) {
                glossary.warnings.add(where + ": source term " + PyText.repr(term.source) + " has no words; skipped");
                continue;
            }
            Term old = byKey.get(key);
            if (old != null && !normalizedTargets(old).equals(normalizedTargets(term))) {
                if (onConflict.equals("error")) {
                    conflicts.add(PyText.repr(term.source) + ": " + String.join(" | ", old.targets) + " vs "
                            + String.join(" | ", term.targets));
                    continue;
                }
                if (onConflict.equals("first")) continue;
            }
            byKey.put(key, term);
        }
        if (!conflicts.isEmpty()) {
            String shown = String.join("; ", conflicts.subList(0, Math.min(5, conflicts.size())))
                    + (conflicts.size() > 5 ? "; and " + (conflicts.size() - 5) + " more" : "");
            throw new GlossaryException(where + ": conflicting entries (pass --on-conflict first|last to choose): " + shown);
        }
        for (Map.Entry<List<String>, Term> e : byKey.entrySet()) {
            Node node = glossary.root;
            for (String word : e.getKey()) node = node.next.computeIfAbsent(word, w -> new Node());
            node.term = e.getValue();
            glossary.terms.add(e.getValue());
        }
        return glossary;
    }

    /** The terms found in {@code text}: leftmost, then longest, never overlapping. */
    public List<Match> match(String text) {
        List<String> toks = words(text);
        List<Match> out = new ArrayList<>();
        int i = 0;
        while (i < toks.size()) {
            Node node = root;
            int bestEnd = -1;
            Term best = null;
            int j = i;
            while (j < toks.size() && node.next.containsKey(toks.get(j))) {
                node = node.next.get(toks.get(j));
                j++;
                if (node.term != null) {
                    bestEnd = j;
                    best = node.term;
                }
            }
            if (best == null) {
                i++;
            } else {
                out.add(new Match(best, i, bestEnd));
                i = bestEnd;
            }
        }
        return out;
    }
}
