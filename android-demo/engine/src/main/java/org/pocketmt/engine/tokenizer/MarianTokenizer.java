package org.pocketmt.engine.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * Marian tokenization as runtime/tokenizer.py does it: SentencePiece pieces mapped through the
 * shared vocab.json, a leading {@code >>xx<<} language code as its own piece, missing pieces to
 * {@code <unk>}. Ids are vocab.json ids, not SentencePiece ids.
 */
public final class MarianTokenizer {
    private static final String WORD_START = "\u2581";

    private final SentencePieceProcessor source;
    private final SentencePieceProcessor target;
    private final Map<String, Integer> pieceToId;
    private final Map<Integer, String> idToPiece;
    private final int unkId, eosId, padId;
    private final BitSet wordContinuations = new BitSet();
    private final BitSet wordEnds = new BitSet();

    private MarianTokenizer(SentencePieceProcessor source, SentencePieceProcessor target, Map<String, Integer> vocab,
                            Path vocabJson) throws TokenizerException {
        this.source = source;
        this.target = target;
        if (!vocab.containsKey("<unk>") || !vocab.containsKey("</s>")) {
            throw new TokenizerException(vocabJson + ": vocabulary must map pieces to ids and contain <unk> and </s>");
        }
        this.pieceToId = Collections.unmodifiableMap(vocab);
        Map<Integer, String> back = new HashMap<>();
        // later pieces win an id, as Python's {v: k for k, v in ...}
        vocab.forEach((piece, id) -> back.put(id, piece));
        this.idToPiece = back;
        this.unkId = vocab.get("<unk>");
        this.eosId = vocab.get("</s>");
        this.padId = vocab.getOrDefault("<pad>", vocab.size() - 1);
        vocab.forEach((piece, id) -> {
            if (id == unkId || id == eosId || id == padId || piece.isEmpty() || id < 0) {
                return;
            }
            // a piece that starts with a letter or digit glues onto the previous one inside a word
            if (PythonText.isAlnum(piece.codePointAt(0))) {
                wordContinuations.set(id);
            }
            // a glued term may not start right after a piece ending with a letter or digit
            if (PythonText.isAlnum(piece.codePointBefore(piece.length()))) {
                wordEnds.set(id);
            }
        });
    }

    public static MarianTokenizer load(Path sourceSpm, Path targetSpm, Path vocabJson) throws TokenizerException {
        SentencePieceProcessor source = SentencePieceProcessor.load(sourceSpm);
        // a joint vocabulary names one file for both sides: load it once
        SentencePieceProcessor target = targetSpm.equals(sourceSpm) ? source : SentencePieceProcessor.load(targetSpm);
        return new MarianTokenizer(source, target, readVocab(vocabJson), vocabJson);
    }

    private static Map<String, Integer> readVocab(Path vocabJson) throws TokenizerException {
        JSONObject json;
        try {
            json = new JSONObject(new String(Files.readAllBytes(vocabJson), StandardCharsets.UTF_8));
        } catch (IOException | JSONException e) {
            throw new TokenizerException(vocabJson + ": not a readable vocabulary (" + oneLine(e.getMessage()) + ")", e);
        }
        // org.json on Android and Debian keeps the file's key order, which decides who wins a shared id
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (Iterator<String> keys = json.keys(); keys.hasNext(); ) {
            String key = keys.next();
            Object v = json.opt(key);
            if (!(v instanceof Number)) {
                throw new TokenizerException(vocabJson + ": vocabulary must map pieces to ids and contain <unk> and </s>");
            }
            vocab.put(key, ((Number) v).intValue());
        }
        return vocab;
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s+", " ").trim();
    }

    public List<String> pieces(String text) {
        List<String> out = new ArrayList<>();
        if (text.startsWith(">>")) {
            int end = text.indexOf("<<");
            if (end != -1) {
                out.add(text.substring(0, end + 2));
                text = text.substring(end + 2);
            }
        }
        out.addAll(source.encode(text));
        return out;
    }

    public int[] encode(String text, boolean addEos) {
        List<String> pieces = pieces(text);
        int[] ids = new int[pieces.size() + (addEos ? 1 : 0)];
        for (int i = 0; i < pieces.size(); i++) {
            ids[i] = pieceToId.getOrDefault(pieces.get(i), unkId);
        }
        if (addEos) {
            ids[pieces.size()] = eosId;
        }
        return ids;
    }

    public List<String> targetPieces(String text) {
        return target.encode(text);
    }

    /** Source ids back to text (for re-reading a piece of a split input); special ids are dropped. */
    public String sourceText(int[] ids) {
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            if (id != unkId && id != eosId && id != padId) {
                pieces.add(idToPiece.getOrDefault(id, ""));
            }
        }
        return source.decodePieces(pieces);
    }

    /** Target ids to text: EOS and PAD dropped, each {@code <unk>} written as " <unk> " between decoded runs. */
    public String decode(int[] ids) {
        List<String> run = new ArrayList<>();
        StringBuilder out = new StringBuilder();
        boolean sawUnk = false;
        for (int id : ids) {
            if (id == eosId || id == padId) {
                continue;
            }
            String piece = idToPiece.getOrDefault(id, "<unk>");
            if (piece.equals("<unk>")) {
                out.append(target.decodePieces(run)).append(" <unk> ");
                run.clear();
                sawUnk = true;
            } else {
                run.add(piece);
            }
        }
        out.append(target.decodePieces(run));
        String text = out.toString().replace(WORD_START, " ");
        return sawUnk ? PythonText.squeezeSpaces(text) : PythonText.strip(text);
    }

    public Map<String, Integer> pieceToId() {
        return pieceToId;
    }

    public String idToPiece(int id) {
        return idToPiece.get(id);
    }

    public int unkId() {
        return unkId;
    }

    public int eosId() {
        return eosId;
    }

    public int padId() {
        return padId;
    }

    public boolean isWordContinuation(int id) {
        return id >= 0 && wordContinuations.get(id);
    }

    public boolean isWordEnd(int id) {
        return id >= 0 && wordEnds.get(id);
    }
}
