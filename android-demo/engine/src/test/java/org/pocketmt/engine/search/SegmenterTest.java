package org.pocketmt.engine.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** tests/test_segment.py's cases in Java (docs/decoding.md, section 1). */
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
    void everySentenceIsAPieceEvenWhenTheTextFits() {
        Segmenter.Segments seg = Segmenter.segment("One two three. Four five! Six seven eight? Nine.", SegmenterTest::encode, 100, EOS);
        assertEquals(List.of(), seg.warnings);
        assertEquals(List.of("One two three.", "Four five!", "Six seven eight?", "Nine."), seg.texts);
        for (int i = 0; i < seg.pieces.size(); i++) assertArrayEquals(encode(seg.texts.get(i)), seg.pieces.get(i));
    }

    @Test
    void twentySentencesAreTwentyPieces() {
        String twenty = String.join(" ", java.util.Collections.nCopies(20, "A dog runs through the snow."));
        Segmenter.Segments seg = Segmenter.segment(twenty, SegmenterTest::encode, 128, EOS, "en");
        assertEquals(java.util.Collections.nCopies(20, "A dog runs through the snow."), seg.texts);
    }

    @Test
    void languageCodeGoesBeforeEverySentence() {
        assertEquals(List.of(">>de<< A dog runs.", ">>de<< A cat sleeps."),
                Segmenter.segment(">>de<< A dog runs. A cat sleeps.", SegmenterTest::encode, 100, EOS).texts);
        assertEquals(List.of(">>de<<"), Segmenter.segment(">>de<<", SegmenterTest::encode, 100, EOS).texts);
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
        String[] words = {"a", "bb", "Ccc", "d.", "E!", "f?", "g\u3002", "Dr.", "3.", "...", "\u00bb", "\n"};
        String[] langs = {null, "en", "de", "fr", "cs"};
        Random rng = new Random(2);
        for (int trial = 0; trial < 300; trial++) {
            List<String> ws = new ArrayList<>();
            for (int i = 0, n = rng.nextInt(61); i < n; i++) ws.add(words[rng.nextInt(words.length)]);
            String text = String.join(" ", ws);
            if (text.trim().isEmpty()) continue;
            int maxLen = 2 + rng.nextInt(11);
            Segmenter.Segments seg = Segmenter.segment(text, SegmenterTest::encode, maxLen, EOS, langs[rng.nextInt(langs.length)]);
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
        // NBSP and U+2028 are Python whitespace (U+2028 and U+001C break lines); U+200B is not whitespace
        assertEquals(List.of("Aa.", "Bb.", "Cc.", "Dd.\u200bEe"), Segmenter.splitSentences("Aa.\u00a0Bb.\u001cCc.\u2028 Dd.\u200bEe"));
        assertEquals(List.of("x"), Segmenter.splitSentences("x"));
        assertEquals(List.of("Aa.", "Bb"), Segmenter.splitSentences(" Aa.  Bb"));
        assertEquals(List.of("A.  B"), Segmenter.splitSentences(" A.  B")); // "A." is an initial
    }

    /** A few of tests/test_segment.py's CASES (the Python test compares thousands of texts with this class). */
    @Test
    void theRulesOfSection13() {
        assertEquals(List.of("Dr. Smith met Mrs. Jones.", "They talked."), Segmenter.splitSentences("Dr. Smith met Mrs. Jones. They talked.", "en"));
        assertEquals(List.of("Am 3. Mai kommt er.", "Er ist 2020.", "Dann nicht."),
                Segmenter.splitSentences("Am 3. Mai kommt er. Er ist 2020. Dann nicht.", "de"));
        assertEquals(List.of("Das ist z. B. eine Katze.", "Gut."), Segmenter.splitSentences("Das ist z. B. eine Katze. Gut.", "de-AT"));
        assertEquals(List.of("M. Dupont est l\u00e0.", "\u00ab Il pleut. \u00bb", "Oui."),
                Segmenter.splitSentences("M. Dupont est l\u00e0. \u00ab Il pleut. \u00bb Oui.", "fr"));
        assertEquals(List.of("What?!", "Really... yes.", "Wait...", "What?"), Segmenter.splitSentences("What?! Really... yes. Wait... What?", "en"));
        assertEquals(List.of("\u732b\u3002", "\u300c\u884c\u3053\u3046\u3002\u300d", "\u3068"),
                Segmenter.splitSentences("\u732b\u3002\u300c\u884c\u3053\u3046\u3002\u300d\u3068", "ja"));
        assertEquals(List.of("Line one", "Line two", "Line three."), Segmenter.splitSentences("Line one\nLine two\r\n\r\n  Line three.", "en"));
        assertEquals(List.of("He said \"Stop!\" and left."), Segmenter.splitSentences("He said \"Stop!\" and left.", "en"));
        assertEquals(List.of("Wait . . . what?", "Hi .", "There"), Segmenter.splitSentences("Wait . . . what? Hi . There", "en"));
        assertEquals(List.of(), Segmenter.splitSentences("  \t ", "en"));
        assertEquals(List.of("de", "de", "pt", "", ""), java.util.Arrays.asList(Segmenter.language("DE"),
                Segmenter.language("de-CH"), Segmenter.language("pt_BR"), Segmenter.language(null), Segmenter.language("-x")));
    }
}
