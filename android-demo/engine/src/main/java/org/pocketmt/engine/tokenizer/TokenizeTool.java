package org.pocketmt.engine.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.IntPredicate;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * Streams tokenizer requests through one JVM so a Python test can compare thousands of strings:
 * {@code java ... TokenizeTool BUNDLE_DIR < in.jsonl > out.jsonl}, one JSON object per line, one
 * answer per line, flushed each line.
 * <ul>
 *   <li>{@code {"encode": "text", "add_eos": true}} gives {@code {"ids": [...], "pieces": [...]}}</li>
 *   <li>{@code {"decode": [ids]}} gives {@code {"text": "..."}}; {@code {"source_text": [ids]}} likewise</li>
 *   <li>{@code {"target_pieces": "text"}} gives {@code {"pieces": [...]}}</li>
 *   <li>{@code {"word_classes": true}} gives {@code {"continuations": [ids], "ends": [ids]}}</li>
 *   <li>{@code {"unicode": "isalnum"|"isspace"}} gives {@code {"ranges": [[first, last], ...]}} over all code points</li>
 * </ul>
 * A request that cannot be answered gets {@code {"error": "..."}}.
 */
public final class TokenizeTool {
    private TokenizeTool() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: TokenizeTool BUNDLE_DIR < requests.jsonl");
            System.exit(2);
        }
        MarianTokenizer tok;
        try {
            tok = loadBundle(Path.of(args[0]));
        } catch (TokenizerException e) {
            System.err.println("pocketmt-java: " + e.getMessage());
            System.exit(2);
            return;
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), false);
        for (String line; (line = in.readLine()) != null; ) {
            if (line.trim().isEmpty()) {
                continue;
            }
            String reply;
            try {
                reply = answer(tok, new JSONObject(line)).toString();
            } catch (JSONException | RuntimeException e) {
                reply = "{\"error\": " + JSONObject.quote(String.valueOf(e.getMessage())) + "}";
            }
            out.println(reply);
            out.flush();
        }
    }

    /** The tokenizer files the bundle's manifest names (a minimal read; the bundle loader checks the rest). */
    static MarianTokenizer loadBundle(Path dir) throws TokenizerException {
        Path manifest = dir.resolve("manifest.json");
        JSONObject t;
        try {
            t = new JSONObject(new String(Files.readAllBytes(manifest), StandardCharsets.UTF_8)).getJSONObject("tokenizer");
            return MarianTokenizer.load(dir.resolve(t.getString("source_spm")), dir.resolve(t.getString("target_spm")),
                    dir.resolve(t.getString("vocab")));
        } catch (IOException | JSONException e) {
            throw new TokenizerException(manifest + ": no readable tokenizer section (" + e.getMessage() + ")", e);
        }
    }

    static JSONObject answer(MarianTokenizer tok, JSONObject req) throws JSONException {
        JSONObject res = new JSONObject();
        if (req.has("encode")) {
            String text = req.getString("encode");
            res.put("ids", toJson(tok.encode(text, req.optBoolean("add_eos", true))));
            res.put("pieces", new JSONArray(tok.pieces(text)));
        } else if (req.has("decode")) {
            res.put("text", tok.decode(ids(req.getJSONArray("decode"))));
        } else if (req.has("source_text")) {
            res.put("text", tok.sourceText(ids(req.getJSONArray("source_text"))));
        } else if (req.has("target_pieces")) {
            res.put("pieces", new JSONArray(tok.targetPieces(req.getString("target_pieces"))));
        } else if (req.has("word_classes")) {
            JSONArray cont = new JSONArray(), ends = new JSONArray();
            for (int id : tok.pieceToId().values().stream().mapToInt(Integer::intValue).sorted().distinct().toArray()) {
                if (tok.isWordContinuation(id)) {
                    cont.put(id);
                }
                if (tok.isWordEnd(id)) {
                    ends.put(id);
                }
            }
            res.put("continuations", cont);
            res.put("ends", ends);
        } else if (req.has("unicode")) {
            String name = req.getString("unicode");
            IntPredicate p = switch (name) {
                case "isalnum" -> PythonText::isAlnum;
                case "isspace" -> PythonText::isSpace;
                default -> throw new JSONException("unknown unicode class " + name);
            };
            res.put("ranges", ranges(p));
        } else {
            throw new JSONException("unknown request; expected encode, decode, source_text, target_pieces, word_classes or unicode");
        }
        return res;
    }

    private static JSONArray ranges(IntPredicate p) {
        JSONArray out = new JSONArray();
        int start = -1;
        for (int cp = 0; cp <= Character.MAX_CODE_POINT + 1; cp++) {
            boolean in = cp <= Character.MAX_CODE_POINT && p.test(cp);
            if (in && start < 0) {
                start = cp;
            } else if (!in && start >= 0) {
                out.put(new JSONArray().put(start).put(cp - 1));
                start = -1;
            }
        }
        return out;
    }

    private static int[] ids(JSONArray a) throws JSONException {
        int[] ids = new int[a.length()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = a.getInt(i);
        }
        return ids;
    }

    private static JSONArray toJson(int[] ids) {
        JSONArray a = new JSONArray();
        for (int id : ids) {
            a.put(id);
        }
        return a;
    }
}
