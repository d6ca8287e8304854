package org.pocketmt.engine;

import java.util.List;

/**
 * One glossary term required for a translation: its source (as in the glossary), the acceptable
 * target forms, the form the search produced (null when its constraints were dropped or it could not be
 * spelled), and how its target forms are spelled: "ok", "byte_fallback" or "unknown" (docs/decoding.md,
 * section 1.5).
 */
public record TermResult(String source, List<String> required, String produced, String spelling) {
    public TermResult {
        required = List.copyOf(required);
    }
}
