package org.pocketmt.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Expected values are sentencepiece 0.2.3's (Python) on the same models. */
class SentencePieceTest {
    static final Path EN_DE = Path.of("../../sdk/models/en-de");

    static Path resource(String name) {
        try {
            return Path.of(SentencePieceTest.class.getResource(name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String normalize(Normalizer n, byte[] in) {
        return new String(n.normalize(in), StandardCharsets.UTF_8);
    }

    private static Normalizer enDeNormalizer() throws TokenizerException {
        SentencePieceModel m = SentencePieceModel.load(EN_DE.resolve("source.spm"));
        return new Normalizer(m.normalizer, m.treatWhitespaceAsSuffix, new PieceTrie());
    }

    @Test
    void readsTheBundleModelSpecs() throws Exception {
        SentencePieceModel m = SentencePieceModel.load(EN_DE.resolve("source.spm"));
        assertEquals(8000, m.pieces.size());
        assertEquals(SentencePieceModel.UNIGRAM, m.modelType);
        assertTrue(m.byteFallback);
        assertEquals(List.of(0, 1, 2, -1), List.of(m.unkId, m.bosId, m.eosId, m.padId));
        assertEquals("nmt_nfkc", m.normalizer.name());
        assertEquals(240007, m.normalizer.precompiledCharsmap().length);
        assertEquals(new SentencePieceModel.Piece("<unk>", 0f, SentencePieceModel.UNKNOWN), m.pieces.get(0));
        assertEquals(SentencePieceModel.CONTROL, m.pieces.get(2).type());
        assertEquals("<0x00>", m.pieces.get(3).piece());
        assertEquals(SentencePieceModel.BYTE, m.pieces.get(3).type());
    }

    @Test
    void normalizesWithTheCharsmapAndWhitespaceRules() throws Exception {
        Normalizer n = enDeNormalizer();
        assertEquals("▁Hello▁World", normalize(n, "  Hello   World ".getBytes(StandardCharsets.UTF_8)));
        assertEquals("▁fi", normalize(n, "ﬁ".getBytes(StandardCharsets.UTF_8)));
        assertEquals("▁A1", normalize(n, "Ａ①".getBytes(StandardCharsets.UTF_8)));
        assertEquals("▁a▁b", normalize(n, "a\u3000\u00a0b".getBytes(StandardCharsets.UTF_8)));
        assertEquals("", normalize(n, "\t\u200b".getBytes(StandardCharsets.UTF_8)));
        assertEquals("", normalize(n, new byte[0]));
        // each byte that is not UTF-8 becomes U+FFFD, one byte at a time
        assertEquals("▁a\uFFFD\uFFFDb", normalize(n, new byte[] {'a', (byte) 0xE4, (byte) 0xBD, 'b'}));
    }

    @Test
    void mergesUnknownsAndMatchesUserDefinedSymbolsWithoutByteFallback() throws Exception {
        SentencePieceProcessor sp = SentencePieceProcessor.load(resource("tiny-udf.spm"));
        assertEquals(List.of("▁", "foo", "<sep>", "b", "a", "r", "▁", "▁baz"), sp.encode("foo<sep>bar  baz"));
        assertEquals(List.of("▁", "▁", "▁the", "▁", "▁fox", "▁"), sp.encode("  the  fox "));
        assertEquals(List.of("▁", "日本", "▁über"), sp.encode("日本 über"));
        assertEquals("日本 über ⁇ ▁x", sp.decodePieces(List.of("▁", "日本", "▁über", "<unk>", "<s>", "▁x")));
        // without whitespace squeezing only the first marker is the dummy prefix
        assertEquals(" the", sp.decodePieces(List.of("▁", "▁the")));
    }

    @Test
    void spellsUnknownsAsBytesWithByteFallback() throws Exception {
        SentencePieceProcessor sp = SentencePieceProcessor.load(resource("tiny-bytes.spm"));
        assertEquals(List.of("foo", "<", "s", "e", "p", ">", "bar▁", "baz"), sp.encode("foo<sep>bar  baz"));
        assertEquals(List.of("the▁", "fox"), sp.encode("  the  fox "));
        assertEquals(List.of("<0xE6>", "<0x97>", "<0xA5>", "<0xE6>", "<0x9C>", "<0xAC>", "▁", "über"), sp.encode("日本 über"));
        // a complete byte run is its character, a cut one U+FFFD per byte; control pieces vanish
        assertEquals("the 日\uFFFDfox ", sp.decodePieces(List.of("<ctl>", "the▁", "<0xE6>", "<0x97>", "<0xA5>", "<0xE6>", "fox▁")));
        assertEquals("▁the", sp.decodePieces(List.of("▁", "▁the")));
    }

    @Test
    void rejectsWhatItCannotEncodeWithAOneLineMessage() throws Exception {
        Path bad = Files.createTempFile("bad", ".spm");
        try {
            Files.write(bad, new byte[] {0x0A, 0x7F, 0x01});
            TokenizerException e = assertThrows(TokenizerException.class, () -> SentencePieceProcessor.load(bad));
            assertTrue(e.getMessage().startsWith("cannot load SentencePiece model: "), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"));
        } finally {
            Files.delete(bad);
        }
        assertThrows(TokenizerException.class, () -> SentencePieceProcessor.load(Path.of("no/such.spm")));
    }
}
