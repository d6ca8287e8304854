package org.pocketmt.engine.glossary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** tests/test_glossary.py's cases in Java. */
class GlossaryTest {
    static Glossary g(String... pairs) throws GlossaryException {
        List<Term> terms = new ArrayList<>();
        for (int i = 0; i < pairs.length; i += 2) terms.add(new Term(pairs[i], List.of(pairs[i + 1])));
        return Glossary.fromTerms(terms);
    }

    static List<String> found(Glossary glossary, String text) {
        return glossary.match(text).stream().map(m -> m.term.source).collect(Collectors.toList());
    }

    @Test
    void matchingIsCaseAndUnicodeInsensitiveWholeWordAndLongestFirst() throws Exception {
        Glossary glossary = g("heart", "Herz", "heart attack", "Herzinfarkt", "café", "Café", "cat", "Katze");
        assertEquals(List.of("heart attack", "café", "cat"), found(glossary, "A HEART attack at the Cafe\u0301? No: a category, a cat."));
        assertEquals(List.of("café"), found(glossary, "ＣＡＦÉ")); // NFKC folds full-width letters
        assertEquals(List.of("straße"), found(g("straße", "street"), "STRASSE")); // full case folding
    }

    @Test
    void overlappingTermsLeftmostThenLongest() throws Exception {
        List<Glossary.Match> m = g("a b", "X", "b c d", "Y", "c", "Z").match("a b c d");
        assertEquals(2, m.size());
        assertEquals("a b", m.get(0).term.source);
        assertEquals(0, m.get(0).startWord);
        assertEquals("c", m.get(1).term.source);
        assertEquals(2, m.get(1).startWord);
    }

    static Path write(Path dir, String name, String content) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, content.getBytes(StandardCharsets.UTF_8));
        return p;
    }

    @Test
    void formatsTsvCsvTbxAndWmtJson(@TempDir Path dir) throws Exception {
        Path tsv = write(dir, "g.tsv", "source\ttarget\n# a comment\ntreatment\tBehandlung\tTherapie|Versorgung\tmed\n");
        Path csv = write(dir, "g.csv", "\"heart attack\",\"Herzinfarkt\"\n");
        Path tbx = write(dir, "g.tbx", "<?xml version=\"1.0\"?><tbx><text><body><termEntry>"
                + "<langSet xml:lang=\"en\"><tig><term>kidney</term></tig></langSet>"
                + "<langSet xml:lang=\"de\"><tig><term>Niere</term></tig><tig><term>Nieren</term></tig></langSet>"
                + "</termEntry></body></text></tbx>");
        Path json = write(dir, "g.json", "[{\"en\": \"liver\", \"de\": \"Leber\"}]\n");
        assertEquals(List.of(new Term("treatment", List.of("Behandlung", "Therapie", "Versorgung"), "med")),
                GlossaryReader.load(tsv, "en", "de").terms());
        assertEquals(List.of(new Term("heart attack", List.of("Herzinfarkt"))), GlossaryReader.load(csv, "en", "de").terms());
        assertEquals(List.of(new Term("kidney", List.of("Niere", "Nieren"))), GlossaryReader.load(tbx, "en", "de").terms());
        assertEquals(List.of(new Term("liver", List.of("Leber"))), GlossaryReader.load(json, "en", "de").terms());
    }

    static String error(Path p) {
        return assertThrows(GlossaryException.class, () -> GlossaryReader.load(p, "en", "de")).getMessage();
    }

    @Test
    void badLinesNameFileAndLine(@TempDir Path dir) throws Exception {
        String[][] cases = {
            {"ok\tgut\nbroken line without tab\n", "g.tsv:2: expected source"},
            {"ok\tgut\n\tnothing\n", "g.tsv:2: expected source"},
            {"ok\t \n", "g.tsv:1: empty target term"},
            {"ok\tgut\nOK\tschlecht\n", "conflicting entries (pass --on-conflict first|last to choose): 'OK': gut vs schlecht"},
        };
        for (String[] c : cases) {
            String msg = error(write(dir, "g.tsv", c[0]));
            assertTrue(msg.contains(c[1]), msg);
        }
    }

    @Test
    void onConflictFirstAndLast(@TempDir Path dir) throws Exception {
        Path p = write(dir, "g.tsv", "ok\tgut\nOK\tschlecht\n");
        assertEquals(List.of("gut"), GlossaryReader.load(p, "en", "de", "first").terms().get(0).targets);
        assertEquals(List.of("schlecht"), GlossaryReader.load(p, "en", "de", "last").terms().get(0).targets);
    }

    @Test
    void invalidUtf8AndBadJsonAreReportedWithTheLine(@TempDir Path dir) throws Exception {
        Path tsv = dir.resolve("g.tsv");
        Files.write(tsv, new byte[] {'o', 'k', '\t', 'g', 'u', 't', '\n', 'b', 'a', 'd', '\t', (byte) 0xff, '\n'});
        assertTrue(error(tsv).endsWith("g.tsv:2: invalid UTF-8"));
        assertTrue(error(write(dir, "g.jsonl", "[{\"en\": \"a\", \"de\": \"b\"}]\n{oops\n")).contains("g.jsonl:2: not valid JSON"));
    }

    @Test
    void tbxRefusesEntitiesButNotADoctype(@TempDir Path dir) throws Exception {
        Path ok = write(dir, "d.tbx", "<?xml version=\"1.0\"?><!DOCTYPE martif SYSTEM \"http://unreachable.invalid/x.dtd\">"
                + "<martif><termEntry><langSet xml:lang=\"en\"><term>a</term></langSet><langSet xml:lang=\"de\"><term>b</term>"
                + "</langSet></termEntry></martif>");
        assertEquals(List.of(new Term("a", List.of("b"))), GlossaryReader.load(ok, "en", "de").terms());
        Path external = write(dir, "x.tbx", "<?xml version=\"1.0\"?><!DOCTYPE t [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><t>&x;</t>");
        assertTrue(error(external).endsWith("not a readable TBX file (EntitiesForbidden(name='x', system_id='file:///etc/passwd', public_id=None))"),
                error(external));
    }

    @Test
    void jsonNestingStopsAtTheDepthPocketmtTranslateReads() throws Exception {
        // `pocketmt translate --glossary` reads 991 nested lists and refuses 992 (Python's RecursionError)
        assertEquals(991, PyJson.MAX_DEPTH);
        PyJson.loads("[".repeat(991) + "]".repeat(991));
        assertEquals(PyJson.Kind.TOO_DEEP, assertThrows(PyJson.Error.class,
                () -> PyJson.loads("[".repeat(992) + "]".repeat(992))).kind);
        assertEquals(PyJson.Kind.TOO_DEEP, assertThrows(PyJson.Error.class,
                () -> PyJson.loads("{\"a\": ".repeat(992) + "1" + "}".repeat(992))).kind);
        // a syntax error before the limit is one: Python fails where its parser stops
        assertEquals(PyJson.Kind.INVALID, assertThrows(PyJson.Error.class,
                () -> PyJson.loads("[".repeat(10) + "x" + "[".repeat(2000))).kind);
    }

    @Test
    void aFailedReadIsNamedAsPythonsStrerror() {
        assertEquals("Permission denied", GlossaryReader.strerror(new java.nio.file.AccessDeniedException("/g.tsv")));
        assertEquals("No such file or directory", GlossaryReader.strerror(new java.nio.file.NoSuchFileException("/g.tsv")));
        assertEquals("Input/output error", GlossaryReader.strerror(new java.io.IOException("Input/output error")));
        assertEquals("Too many levels of symbolic links", GlossaryReader.strerror(
                new java.nio.file.FileSystemException("/g.tsv", null, "Too many levels of symbolic links")));
    }

    @Test
    void anUnreadableGlossaryIsAOneLineError(@TempDir Path dir) throws Exception {
        Path p = write(dir, "locked.tsv", "a\tb\n");
        boolean locked = p.toFile().setReadable(false, false) && !Files.isReadable(p); // root reads anything
        if (locked) assertEquals(p + ": cannot read the glossary (Permission denied)", error(p));
        Path mem = Path.of("/proc/self/mem"); // a regular file whose read fails with EIO, even for root
        if (Files.isRegularFile(mem)) assertEquals("/proc/self/mem: cannot read the glossary (Input/output error)", error(mem));
        assertTrue(locked || Files.isRegularFile(mem), "no unreadable file to try here");
    }

    static final String[] WORDS = {"a", "b", "c", "Ä", "dog", "dogs", "x-y", "ß", "SS", "é"};

    @Test
    void matchesAreRealNonOverlappingAndNothingCrashes() throws Exception {
        Random rng = new Random(1);
        for (int trial = 0; trial < 300; trial++) {
            List<Term> entries = new ArrayList<>();
            for (int e = 0, n = rng.nextInt(21); e < n; e++) {
                List<String> src = new ArrayList<>();
                for (int w = 0, k = 1 + rng.nextInt(3); w < k; w++) src.add(WORDS[rng.nextInt(WORDS.length)]);
                entries.add(new Term(String.join(" ", src), List.of(WORDS[rng.nextInt(WORDS.length)])));
            }
            Glossary glossary = Glossary.fromTerms(entries, "last", "glossary");
            List<String> text = new ArrayList<>();
            for (int w = 0, k = rng.nextInt(31); w < k; w++) text.add(WORDS[rng.nextInt(WORDS.length)]);
            List<String> toks = Glossary.words(String.join(" ", text));
            int lastEnd = 0;
            for (Glossary.Match m : glossary.match(String.join(" ", text))) {
                assertTrue(m.startWord >= lastEnd && m.endWord > m.startWord);
                assertEquals(Glossary.words(m.term.source), toks.subList(m.startWord, m.endWord));
                lastEnd = m.endWord;
            }
        }
    }
}
