package org.pocketmt.engine.glossary;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Section 9.2 on a tiny vocabulary: spaced and glued spellings, the upper-cased variant, warnings. */
class TermConstraintsTest {
    static final Map<String, Integer> VOCAB = Map.of("\u2581Haus", 1, "Haus", 2, "\u2581haus", 3, "haus", 4, "\u2581", 5, "Kr", 6);

    static List<String> pieces(String text) {
        if (text.equals("Krhaus")) return List.of("\u2581", "Kr", "haus");
        return List.of("\u2581" + text);
    }

    @Test
    void spacedAndGluedSpellingsOfBothCasings() {
        TermConstraint tc = TermConstraints.build(new Term("house", List.of("haus")), TermConstraintsTest::pieces, VOCAB);
        assertTrue(tc.ok());
        // "haus": ▁haus (3), glued haus (4); "Haus": ▁Haus (1), glued Haus (2); glued ones are not proposed
        assertArrayEquals(new int[] {3}, tc.constraint.alternative(0));
        assertArrayEquals(new int[] {4}, tc.constraint.alternative(1));
        assertArrayEquals(new int[] {1}, tc.constraint.alternative(2));
        assertArrayEquals(new int[] {2}, tc.constraint.alternative(3));
        assertTrue(tc.constraint.mayPropose(0) && tc.constraint.mayPropose(2));
        assertFalse(tc.constraint.mayPropose(1) || tc.constraint.mayPropose(3));
        assertEquals(List.of("haus", "haus", "haus", "haus"), tc.forms);
    }

    @Test
    void aLoneMarkerPieceGluesByDroppingIt() {
        TermConstraint tc = TermConstraints.build(new Term("x", List.of("Krhaus")), TermConstraintsTest::pieces, VOCAB);
        assertArrayEquals(new int[] {5, 6, 4}, tc.constraint.alternative(0));
        assertArrayEquals(new int[] {6, 4}, tc.constraint.alternative(1));
        assertFalse(tc.constraint.mayPropose(1));
    }

    @Test
    void unspellableTermsAreSkippedWithPythonsWarning() {
        TermConstraint tc = TermConstraints.build(new Term("it's", List.of("Zeug", " ")), TermConstraintsTest::pieces, VOCAB);
        assertFalse(tc.ok());
        assertEquals("target term 'Zeug', ' ' for \"it's\" cannot be tokenized (characters the vocabulary lacks); skipped", tc.warning);
        TermConstraint none = TermConstraints.build(new Term("x", List.of()), TermConstraintsTest::pieces, VOCAB);
        assertEquals("target term (empty) for 'x' cannot be tokenized (no target form); skipped", none.warning);
    }
}
