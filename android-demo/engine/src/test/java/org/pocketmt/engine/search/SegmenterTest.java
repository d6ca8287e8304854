package org.pocketmt.engine.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** tests/test_segment.py's cases in Java. */
class SegmenterTest {
    static final int EOS = 0;

    /** One id per word (its length + 1) then EOS. */
    static int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        for (String w : text.trim().split("\\s+")) if (!w.isEmpty()) ids.add(w.length() + 1);
        ids.add(EOS);
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    static List<Integer> body(List<int[]> pieces) {
        List<Integer> out = new ArrayList<>();
        for (int[] p : pieces) for (int i = 0; i < p.length - 1; i++) out.add(p[i]);
        return out;
    }

    @Test
    void shortTextIsOnePiece() {
        Segmenter.Segments seg = Segmenter.segment("a b c.", SegmenterTest::encode, 8, EOS);
        assertEquals(1, seg.pieces.size());
        assertArrayEquals(encode("a b c."), seg.pieces.get(0));
        assertEquals(List.of(), seg.warnings);
        assertEquals(List.of("a b c."), seg.texts);
    }

    @Test
    void splitAtSentenceEndsAndPackedGreedily() {
        Segmenter.Segments seg = Segmenter.segment("One two three. Four five! Six seven eight? Nine.", SegmenterTest::encode, 6, EOS);
        assertEquals(List.of(), seg.warnings);
        assertEquals(2, seg.pieces.size());
        assertArrayEquals(encode("One two three. Four five!"), seg.pieces.get(0));
        assertArrayEquals(encode("Six seven eight? Nine."), seg.pieces.get(1));
    }

    @Test
    void overlongSentenceIsCutIntoChunksWithAWarning() {
        String text = "w ".repeat(20) + "end.";
        Segmenter.Segments seg = Segmenter.segment(text, SegmenterTest::encode, 8, EOS);
        assertEquals(1, seg.warnings.size());
        assertTrue(seg.warnings.get(0).contains("exceeds the max source length 8"));
        List<Integer> want = new ArrayList<>();
        for (int id : encode(text)) want.add(id);
        want.remove(want.size() - 1);
        assertEquals(want, body(seg.pieces));
        assertTrue(seg.texts.stream().allMatch(t -> t == null));
    }

    @Test
    void noTokenIsEverDropped() {
        String[] words = {"a", "bb", "ccc", "d.", "e!", "f?", "g\u3002"};
        Random rng = new Random(2);
        for (int trial = 0; trial < 300; trial++) {
            List<String> ws = new ArrayList<>();
            for (int i = 0, n = rng.nextInt(61); i < n; i++) ws.add(words[rng.nextInt(words.length)]);
            String text = String.join(" ", ws);
            int maxLen = 2 + rng.nextInt(11);
            Segmenter.Segments seg = Segmenter.segment(text, SegmenterTest::encode, maxLen, EOS);
            for (int[] p : seg.pieces) assertTrue(p.length <= maxLen && p[p.length - 1] == EOS);
            List<Integer> want = new ArrayList<>();
            for (int id : encode(text)) want.add(id);
            want.remove(want.size() - 1);
            assertEquals(want, body(seg.pieces));
        }
    }

    @Test
    void splitSentencesKeepsPunctuationAndUsesPythonWhitespace() {
        assertEquals(List.of("Hi.", "There!", "Ok?", "Done\u3002", "End"), Segmenter.splitSentences("Hi. There! Ok? Done\u3002 End"));
        // NBSP, U+001C and U+2028 are Python whitespace; U+200B is not
        assertEquals(List.of("a.", "b.", "c.", "d.\u200be"), Segmenter.splitSentences("a.\u00a0b.\u001cc.\u2028 d.\u200be"));
        assertEquals(List.of("x"), Segmenter.splitSentences("x"));
        assertEquals(List.of(" a.", "b"), Segmenter.splitSentences(" a.  b"));
    }
}
