package org.pocketmt.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Expected values are runtime/tokenizer.py's on the built-in en-de bundle. */
class MarianTokenizerTest {
    private static final Path SPM = SentencePieceTest.EN_DE.resolve("source.spm");
    private static final Path VOCAB = SentencePieceTest.EN_DE.resolve("vocab.json");

    private static MarianTokenizer enDe() throws TokenizerException {
        return MarianTokenizer.load(SPM, SPM, VOCAB);
    }

    @Test
    void encodesLikePython() throws Exception {
        MarianTokenizer t = enDe();
        assertArrayEquals(new int[] {1325, 3234, 752, 3112, 286, 639, 367, 3062, 0}, t.encode("Hello World!", true));
        assertEquals(List.of("▁H", "ell", "o", "▁Wo", "r", "l", "d", "!"), t.pieces("Hello World!"));
        assertArrayEquals(new int[] {0}, t.encode("", true));
        // the language code is one piece, and not in this vocabulary
        assertArrayEquals(new int[] {1}, t.encode(">>de<<", false));
        assertEquals(">>de<<", t.pieces(">>de<< Hallo").get(0));
        assertArrayEquals(new int[] {1224, 286, 7998, 7997, 300, 264, 291, 230, 191, 162, 231, 167, 191, 291, 242, 161,
            154, 130, 3062, 0}, t.encode("Grüße, 你好 😀!", true));
    }

    @Test
    void decodesLikePython() throws Exception {
        MarianTokenizer t = enDe();
        assertEquals("Hello <unk> World!", t.decode(new int[] {1325, 3234, 752, 1, 3112, 286, 639, 367, 3062, 0}));
        assertEquals("Grüße, 你好 😀!", t.decode(t.encode("Grüße, 你好 😀!", true)));
        assertEquals("Grüße, 你好!", t.sourceText(t.encode("Grüße, 你好!", true)));
        assertEquals("", t.decode(new int[] {0, 7999}));
    }

    @Test
    void exposesVocabularyAndWordClasses() throws Exception {
        MarianTokenizer t = enDe();
        assertEquals(List.of(1, 0, 7999), List.of(t.unkId(), t.eosId(), t.padId()));
        assertEquals("ell", t.idToPiece(3234));
        assertNull(t.idToPiece(123456));
        assertEquals(3234, t.pieceToId().get("ell"));
        assertThrows(UnsupportedOperationException.class, () -> t.pieceToId().put("x", 1));
        assertTrue(t.isWordContinuation(3234)); // "ell"
        assertFalse(t.isWordContinuation(1325)); // "▁H"
        assertTrue(t.isWordEnd(1325));
        assertFalse(t.isWordEnd(3062)); // "!"
        assertFalse(t.isWordContinuation(t.unkId()));
        assertFalse(t.isWordEnd(-5));
    }

    @Test
    void badVocabulariesAreOneLineErrors() throws Exception {
        Path vocab = Files.createTempFile("vocab", ".json");
        try {
            Files.writeString(vocab, "{\"a\": 1}", StandardCharsets.UTF_8);
            TokenizerException e = assertThrows(TokenizerException.class, () -> MarianTokenizer.load(SPM, SPM, vocab));
            assertTrue(e.getMessage().endsWith("vocabulary must map pieces to ids and contain <unk> and </s>"), e.getMessage());
            Files.writeString(vocab, "{\"a\": \n", StandardCharsets.UTF_8);
            e = assertThrows(TokenizerException.class, () -> MarianTokenizer.load(SPM, SPM, vocab));
            assertTrue(e.getMessage().contains("not a readable vocabulary"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        } finally {
            Files.delete(vocab);
        }
    }
}
