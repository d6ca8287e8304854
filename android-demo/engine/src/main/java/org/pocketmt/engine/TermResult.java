package org.pocketmt.engine;

import java.util.List;

/**
 * One glossary term required for a translation: its source (as in the glossary), the acceptable
 * target forms, and the form the search produced, or null when its constraints were dropped.
 */
public record TermResult(String source, List<String> required, String produced) {
    public TermResult {
        required = List.copyOf(required);
    }
}
