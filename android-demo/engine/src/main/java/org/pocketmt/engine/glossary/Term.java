package org.pocketmt.engine.glossary;

import java.util.List;
import java.util.Objects;

/** One glossary entry: a source term, its acceptable target forms (any one satisfies it) and a note. */
public final class Term {
    public final String source;
    public final List<String> targets;
    public final String note;

    public Term(String source, List<String> targets, String note) {
        this.source = Objects.requireNonNull(source);
        this.targets = List.copyOf(targets);
        this.note = note == null ? "" : note;
    }

    public Term(String source, List<String> targets) {
        this(source, targets, "");
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Term)) return false;
        Term t = (Term) o;
        return source.equals(t.source) && targets.equals(t.targets) && note.equals(t.note);
    }

    @Override
    public int hashCode() {
        return Objects.hash(source, targets, note);
    }

    @Override
    public String toString() {
        return "Term(" + PyText.repr(source) + ", " + targets + ", " + PyText.repr(note) + ")";
    }
}
