package org.pocketmt.engine.glossary;

import java.util.List;
import org.pocketmt.engine.search.Constraint;

/**
 * A glossary term as a search constraint (section 9.2), with the target form each alternative spells
 * (index-aligned with the alternatives), or, when no form can be spelled, the warning to report instead.
 */
public final class TermConstraint {
    public final Term term;
    /** Null when the term cannot be spelled (then {@link #warning} says why). */
    public final Constraint constraint;
    public final List<String> forms;
    /** Python's warning text when the term is skipped, else null. */
    public final String warning;

    TermConstraint(Term term, Constraint constraint, List<String> forms, String warning) {
        this.term = term;
        this.constraint = constraint;
        this.forms = forms == null ? List.of() : List.copyOf(forms);
        this.warning = warning;
    }

    public boolean ok() {
        return constraint != null;
    }
}
