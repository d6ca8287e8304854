package org.pocketmt.engine.glossary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pocketmt.engine.search.Segmenter;

/** Replays tools/glossary_cases.py: what Python's glossary, segmenter and term constraints gave, exactly. */
class PythonGlossaryReplayTest {
    static JSONObject cases() throws Exception {
        try (InputStream in = PythonGlossaryReplayTest.class.getResourceAsStream("glossary_cases.json")) {
            assertNotNull(in, "glossary_cases.json (run android-demo/engine/tools/glossary_cases.py)");
            return new JSONObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    static List<String> strings(JSONArray a) throws Exception {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < a.length(); i++) out.add(a.isNull(i) ? null : a.getString(i));
        return out;
    }

    /** The file's bytes: {@code content}, or {@code content_parts} ([base64, count]: the bytes repeated). */
    static byte[] content(JSONObject f) throws Exception {
        if (!f.has("content_parts")) return Base64.getDecoder().decode(f.getString("content"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        JSONArray parts = f.getJSONArray("content_parts");
        for (int p = 0; p < parts.length(); p++) {
            byte[] part = Base64.getDecoder().decode(parts.getJSONArray(p).getString(0));
            for (int n = parts.getJSONArray(p).getInt(1); n > 0; n--) out.write(part);
        }
        return out.toByteArray();
    }

    /** tools/glossary_cases.py's terms_digest: SHA-256 over source 1f targets (1e between) 1f note, terms by 1d. */
    static String termsDigest(List<Term> terms) throws Exception {
        List<String> parts = new ArrayList<>();
        for (Term t : terms) parts.add(t.source + "\u001f" + String.join("\u001e", t.targets) + "\u001f" + t.note);
        byte[] hash = MessageDigest.getInstance("SHA-256").digest(String.join("\u001d", parts).getBytes(StandardCharsets.UTF_8));
        StringBuilder hex = new StringBuilder();
        for (byte b : hash) hex.append(String.format("%02x", b & 0xff));
        return hex.toString();
    }

    @Test
    void glossaryFilesReadAsInPython(@TempDir Path dir) throws Exception {
        JSONArray files = cases().getJSONArray("files");
        List<String> failures = new ArrayList<>();
        int skipped = 0;
        for (int i = 0; i < files.length(); i++) {
            JSONObject f = files.getJSONObject(i);
            Path path;
            if (f.optBoolean("system")) { // read where it is (an unreadable /proc file), where there is one
                path = Path.of(f.getString("name"));
                if (!Files.isRegularFile(path)) {
                    skipped++;
                    continue;
                }
            } else {
                path = dir.resolve(f.getString("name"));
                Files.deleteIfExists(path);
                if (f.has("content_parts") || !f.isNull("content")) Files.write(path, content(f));
            }
            String got;
            try {
                Glossary g = GlossaryReader.load(path, "en", "de", f.getString("on_conflict"));
                JSONArray terms = new JSONArray();
                for (Term t : g.terms()) terms.put(new JSONArray().put(t.source).put(new JSONArray(t.targets)).put(t.note));
                List<String> warnings = new ArrayList<>();
                for (String w : g.warnings()) warnings.add(w.replace(dir.toString(), "{dir}"));
                got = (f.has("terms_sha256") ? "terms " + termsDigest(g.terms()) : "terms " + terms)
                        + " warnings " + new JSONArray(warnings);
            } catch (GlossaryException e) {
                got = "error " + e.getMessage().replace(dir.toString(), "{dir}");
            }
            String want;
            if (f.has("terms_sha256")) {
                want = "terms " + f.getString("terms_sha256") + " warnings " + f.getJSONArray("warnings");
            } else if (f.has("terms")) {
                want = "terms " + f.getJSONArray("terms") + " warnings " + f.getJSONArray("warnings");
            } else if (f.has("raw_error")) {
                want = "error " + f.getString("raw_error");
            } else {
                want = "error " + f.getString("error");
            }
            // expat's parse errors ("not well-formed (invalid token): line 1, column 9"): Java's parser words its
            // own, so only the prefix must agree; Python's other TBX refusals (an unknown or multi-byte encoding,
            // a forbidden entity) are the same words in Java
            String parsePrefix = "not a readable TBX file (";
            boolean xmlMessage = want.contains(parsePrefix) && want.matches("(?s).*: line \\d+, column \\d+\\)");
            if (xmlMessage ? !got.startsWith(want.substring(0, want.indexOf(parsePrefix) + parsePrefix.length())) : !got.equals(want)) {
                failures.add(f.getString("name") + " (" + f.getString("on_conflict") + "):\n  want " + want + "\n  got  " + got);
            }
        }
        System.out.println("python glossary files: " + (files.length() - skipped - failures.size()) + " of "
                + (files.length() - skipped) + " identical");
        assertEquals(List.of(), failures);
    }

    @Test
    void wordsAndMatchesAsInPython() throws Exception {
        JSONObject data = cases();
        List<Term> entries = new ArrayList<>();
        JSONArray e = data.getJSONArray("entries");
        for (int i = 0; i < e.length(); i++) entries.add(new Term(e.getJSONArray(i).getString(0), List.of(e.getJSONArray(i).getString(1))));
        Glossary g = Glossary.fromTerms(entries, "last", "glossary");
        JSONArray matches = data.getJSONArray("matches");
        for (int i = 0; i < matches.length(); i++) {
            JSONObject m = matches.getJSONObject(i);
            String text = m.getString("text");
            assertEquals(strings(m.getJSONArray("words")), Glossary.words(text), text);
            JSONArray got = new JSONArray();
            for (Glossary.Match x : g.match(text)) got.put(new JSONArray().put(x.term.source).put(x.startWord).put(x.endWord));
            assertEquals(m.getJSONArray("matches").toString(), got.toString(), text);
        }
    }

    static int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        for (String w : text.split("[\\s\\x1c-\\x1f\\x85\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+")) {
            if (!w.isEmpty()) ids.add(PyText.length(w) + 1);
        }
        ids.add(0);
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void segmentsAsInPython() throws Exception {
        JSONArray segs = cases().getJSONArray("segments");
        for (int i = 0; i < segs.length(); i++) {
            JSONObject s = segs.getJSONObject(i);
            String text = s.getString("text");
            try {
                Segmenter.Segments got = Segmenter.segment(text, PythonGlossaryReplayTest::encode, s.getInt("max_len"), 0);
                assertTrue(s.has("pieces"), "Python failed: " + s.optString("error"));
                JSONArray pieces = new JSONArray();
                for (int[] p : got.pieces) pieces.put(new JSONArray(Arrays.stream(p).boxed().toArray()));
                assertEquals(s.getJSONArray("pieces").toString(), pieces.toString(), text);
                assertEquals(strings(s.getJSONArray("texts")), got.texts, text);
                assertEquals(strings(s.getJSONArray("warnings")), got.warnings, text);
            } catch (IllegalArgumentException ex) {
                assertEquals(s.optString("error"), ex.getMessage(), text);
            }
        }
    }

    @Test
    void termConstraintsAsInPython() throws Exception {
        JSONArray terms = cases().getJSONArray("terms");
        for (int i = 0; i < terms.length(); i++) {
            JSONObject c = terms.getJSONObject(i);
            Map<String, Integer> vocab = new HashMap<>();
            JSONObject v = c.getJSONObject("vocab");
            for (java.util.Iterator<String> keys = v.keys(); keys.hasNext(); ) {
                String key = keys.next();
                vocab.put(key, v.getInt(key));
            }
            Term term = new Term(c.getString("source"), strings(c.getJSONArray("targets")));
            TermConstraint tc = TermConstraints.build(term, PythonGlossaryReplayTest::fakePieces, vocab);
            if (c.has("warning")) {
                assertEquals(c.getString("warning"), tc.warning, "case " + i);
                assertEquals(null, tc.constraint);
                continue;
            }
            assertTrue(tc.ok(), "case " + i + ": " + tc.warning);
            JSONArray alts = new JSONArray();
            JSONArray proposed = new JSONArray();
            for (int a = 0; a < tc.constraint.alternativeCount(); a++) {
                alts.put(new JSONArray(Arrays.stream(tc.constraint.alternative(a)).boxed().toArray()));
                proposed.put(tc.constraint.mayPropose(a));
            }
            assertEquals(c.getJSONArray("alternatives").toString(), alts.toString(), "case " + i);
            assertEquals(c.getJSONArray("proposed").toString(), proposed.toString(), "case " + i);
            assertEquals(strings(c.getJSONArray("forms")), tc.forms, "case " + i);
        }
    }

    /** tools/glossary_cases.py's fake target tokenizer: words cut into 3-code-point pieces, ▁ on the first. */
    static List<String> fakePieces(String text) {
        List<String> out = new ArrayList<>();
        for (String w : text.split(" ", -1)) {
            int n = PyText.length(w);
            for (int i = 0; i < n; i += 3) {
                int from = w.offsetByCodePoints(0, i), to = w.offsetByCodePoints(0, Math.min(n, i + 3));
                out.add((i == 0 ? "\u2581" : "") + w.substring(from, to));
            }
        }
        return out;
    }

    @Test
    void jsonErrorsAsInPython() throws Exception {
        JSONArray cases = cases().getJSONArray("json");
        for (int i = 0; i < cases.length(); i++) {
            String text = cases.getJSONArray(i).getString(0);
            String want = cases.getJSONArray(i).isNull(1) ? null : cases.getJSONArray(i).getString(1);
            String got = null;
            try {
                PyJson.loads(text);
            } catch (PyJson.Error e) {
                got = e.getMessage();
            }
            assertEquals(want, got, PyText.repr(text));
        }
    }

    @Test
    void csvRecordsAsInPython() throws Exception {
        JSONArray cases = cases().getJSONArray("csv");
        for (int i = 0; i < cases.length(); i++) {
            JSONObject c = cases.getJSONObject(i);
            String text = c.getString("text");
            PyCsv.Records got = PyCsv.read(text, c.getString("delimiter").charAt(0));
            JSONArray rows = new JSONArray();
            for (List<String> row : got.rows) rows.put(new JSONArray(row));
            assertEquals(c.getJSONArray("rows").toString(), rows.toString(), PyText.repr(text));
            assertEquals(c.isNull("error") ? null : c.getString("error"), got.error, PyText.repr(text));
        }
    }

    @Test
    void reprAsInPython() throws Exception {
        JSONArray reprs = cases().getJSONArray("reprs");
        for (int i = 0; i < reprs.length(); i++) {
            assertEquals(reprs.getJSONArray(i).getString(1), PyText.repr(reprs.getJSONArray(i).getString(0)));
        }
    }
}
