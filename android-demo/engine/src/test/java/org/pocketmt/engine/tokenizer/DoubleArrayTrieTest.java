package org.pocketmt.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DoubleArrayTrieTest {
    /** Keys "a" -> 5 and "ab" -> 7 laid out by hand in darts-clone units. */
    private static DoubleArrayTrie handBuilt() {
        int[] units = new int[98];
        units[0] = 1 << 10; // root: children at 1 ^ label
        units[96] = (1 << 10) | (1 << 8) | 'a'; // 1 ^ 'a'; has a leaf; its children at 96 ^ 1 = 97
        units[97] = 0x80000000 | 5; // leaf of "a" (label 0 at 97 ^ 0)
        units[3] = (1 << 10) | (1 << 8) | 'b'; // 97 ^ 'b'; leaf at 3 ^ 1 = 2
        units[2] = 0x80000000 | 7;
        return new DoubleArrayTrie(units);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void findsTheLongestKeyThatPrefixesTheInput() {
        DoubleArrayTrie t = handBuilt();
        assertEquals(new DoubleArrayTrie.Match(1, 5), t.longestPrefix(utf8("a"), 0, 1));
        assertEquals(new DoubleArrayTrie.Match(2, 7), t.longestPrefix(utf8("abc"), 0, 3));
        assertEquals(new DoubleArrayTrie.Match(1, 5), t.longestPrefix(utf8("ac"), 0, 2));
        assertEquals(new DoubleArrayTrie.Match(2, 7), t.longestPrefix(utf8("xab"), 1, 3));
        assertEquals(new DoubleArrayTrie.Match(1, 5), t.longestPrefix(utf8("ab"), 0, 1)); // stops at `to`
        assertNull(t.longestPrefix(utf8("b"), 0, 1));
        assertNull(t.longestPrefix(new byte[] {0}, 0, 1)); // NUL is no key
    }

    @Test
    void readsLittleEndianUnits() throws Exception {
        byte[] blob = {9, 0x00, 0x04, 0x00, 0x00}; // one junk byte, then unit 0 = 1 << 10
        DoubleArrayTrie t = DoubleArrayTrie.fromLittleEndian(blob, 1, 4);
        assertNull(t.longestPrefix(utf8("a"), 0, 1)); // unit 1 ^ 'a' is out of range: no match, no exception
    }
}
