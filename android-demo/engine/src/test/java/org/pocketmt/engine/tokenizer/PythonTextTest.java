package org.pocketmt.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Spot checks; tests/test_java_tokenizer.py compares every code point with Python. */
class PythonTextTest {
    @Test
    void isAlnumCountsPythonNumerics() {
        for (int cp : new int[] {'a', 'Z', '7', 'ß', '²', '½', 'Ⅻ', '①', '٣', '一', 0x1D7CE}) {
            assertTrue(PythonText.isAlnum(cp), Integer.toHexString(cp));
        }
        for (int cp : new int[] {'_', ' ', '!', 0x0301, 0x1F600, 0x200D, -1, 0x110000}) {
            assertFalse(PythonText.isAlnum(cp), Integer.toHexString(cp));
        }
    }

    @Test
    void stripAndSplitUsePythonWhitespace() {
        assertTrue(PythonText.isSpace(0x1C));
        assertFalse(PythonText.isSpace(0x200B)); // zero-width space is not whitespace to Python
        assertEquals("a \u200b b", PythonText.strip("\u3000\n a \u200b b\u0085\u00a0"));
        assertEquals("a b \u200b", PythonText.squeezeSpaces("  a\t\u2028b   \u200b "));
        assertEquals("", PythonText.squeezeSpaces(" \u3000 "));
    }
}
