package org.pocketmt.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Encodes text to pieces and decodes pieces to text the way the sentencepiece library (0.2) does for
 * a unigram model: normalize, Viterbi over the pieces, byte fallback for unknown characters; and on
 * the way back, byte pieces reassembled into UTF-8 and the word-start marker turned into spaces.
 */
final class SentencePieceProcessor {
    /** SentencePiece's penalty below the lowest piece score for an unknown character. */
    private static final float UNK_PENALTY = 10.0f;
    private static final String SPACE_SYMBOL = "\u2581";

    private final SentencePieceModel model;
    private final Map<String, Integer> pieceIds = new HashMap<>();
    private final PieceTrie trie = new PieceTrie();
    private final Normalizer normalizer;
    private final int unkId;
    private final float minScore, maxScore;

    private SentencePieceProcessor(SentencePieceModel model) throws TokenizerException {
        this.model = model;
        if (model.modelType != SentencePieceModel.UNIGRAM) {
            throw new TokenizerException("model type " + model.modelType + " is not supported (only unigram)");
        }
        if (model.denormalizer != null) {
            throw new TokenizerException("models with a denormalizer are not supported");
        }
        PieceTrie userDefined = new PieceTrie();
        int unk = -1;
        float min = Float.MAX_VALUE, max = Float.MIN_VALUE;
        for (int i = 0; i < model.pieces.size(); i++) {
            SentencePieceModel.Piece p = model.pieces.get(i);
            if (p.piece().isEmpty()) {
                throw new TokenizerException("piece " + i + " is empty");
            }
            if (pieceIds.putIfAbsent(p.piece(), i) != null) {
                throw new TokenizerException("piece " + p.piece() + " is defined twice");
            }
            switch (p.type()) {
                case SentencePieceModel.NORMAL, SentencePieceModel.USER_DEFINED, SentencePieceModel.UNUSED ->
                        trie.put(p.piece(), i);
                case SentencePieceModel.UNKNOWN -> {
                    if (unk >= 0) {
                        throw new TokenizerException("unknown piece is defined twice");
                    }
                    unk = i;
                }
                case SentencePieceModel.BYTE -> {
                    if (!model.byteFallback || byteOf(p.piece()) < 0) {
                        throw new TokenizerException("byte piece " + p.piece() + " in a model without byte_fallback or malformed");
                    }
                }
                default -> { }
            }
            if (p.type() == SentencePieceModel.USER_DEFINED) {
                userDefined.put(p.piece(), i);
            }
            if (p.type() == SentencePieceModel.NORMAL) {
                min = Math.min(min, p.score());
                max = Math.max(max, p.score());
            }
        }
        if (unk < 0) {
            throw new TokenizerException("model defines no unknown piece");
        }
        this.unkId = unk;
        // the library's initial values stand for "no normal piece" and then mean 0
        this.minScore = min == Float.MAX_VALUE ? 0f : min;
        this.maxScore = max == Float.MIN_VALUE ? 0f : max;
        this.normalizer = new Normalizer(model.normalizer, model.treatWhitespaceAsSuffix, userDefined);
    }

    static SentencePieceProcessor load(Path file) throws TokenizerException {
        return new SentencePieceProcessor(SentencePieceModel.load(file));
    }

    int pieceToId(String piece) {
        return pieceIds.getOrDefault(piece, unkId);
    }

    private int type(int id) {
        return model.pieces.get(id).type();
    }

    /** As {@code SentencePieceProcessor.encode(text, out_type=str)}. */
    List<String> encode(String text) {
        byte[] norm = normalizer.normalize(text.getBytes(StandardCharsets.UTF_8));
        List<String> out = new ArrayList<>();
        int[] starts = viterbi(norm);
        boolean prevUnk = false;
        int end = norm.length;
        List<int[]> spans = new ArrayList<>();
        while (end > 0) {
            spans.add(new int[] {starts[2 * end], end, starts[2 * end + 1]});
            end = starts[2 * end];
        }
        for (int k = spans.size() - 1; k >= 0; k--) {
            int from = spans.get(k)[0], to = spans.get(k)[1], id = spans.get(k)[2];
            boolean unk = id == unkId;
            if (unk && model.byteFallback) {
                // an unknown character is spelled as its UTF-8 bytes
                for (int i = from; i < to; i++) {
                    out.add(bytePiece(norm[i] & 0xFF));
                }
            } else if (unk && prevUnk) {
                // the library merges a run of unknown characters into one piece
                out.set(out.size() - 1, out.get(out.size() - 1) + new String(norm, from, to - from, StandardCharsets.UTF_8));
            } else {
                out.add(new String(norm, from, to - from, StandardCharsets.UTF_8));
            }
            prevUnk = unk;
        }
        return out;
    }

    /**
     * Best segmentation of {@code norm}: for each end byte position e, [2e] is where its last piece
     * starts and [2e+1] the piece id (unk for an unknown character). Scores add in float, as in the
     * sentencepiece 0.2.3 build the runtime uses (summing in double instead flips exact ties, seen in
     * the parity test), and the first candidate found keeps a tie.
     */
    private int[] viterbi(byte[] norm) {
        int size = norm.length;
        float[] best = new float[size + 1];
        int[] back = new int[2 * (size + 1)];
        java.util.Arrays.fill(back, -1);
        float unkScore = minScore - UNK_PENALTY;
        int start = 0;
        while (start < size) {
            final int from = start;
            final float here = best[from];
            final int charLen = Math.min(Utf8.oneCharLen(norm, from), size - from);
            boolean[] single = {false};
            trie.prefixes(norm, from, size, (length, id) -> {
                int t = type(id);
                if (t == SentencePieceModel.UNUSED) {
                    return;
                }
                // user-defined symbols get a bonus that makes them always win
                float score = t == SentencePieceModel.USER_DEFINED
                        ? length * maxScore - 0.1f
                        : model.pieces.get(id).score();
                float candidate = score + here;
                int end = from + length;
                if (back[2 * end] == -1 || candidate > best[end]) {
                    best[end] = candidate;
                    back[2 * end] = from;
                    back[2 * end + 1] = id;
                }
                if (length == charLen) {
                    single[0] = true;
                }
            });
            if (!single[0]) {
                float candidate = unkScore + here;
                int end = from + charLen;
                if (back[2 * end] == -1 || candidate > best[end]) {
                    best[end] = candidate;
                    back[2 * end] = from;
                    back[2 * end + 1] = unkId;
                }
            }
            start += charLen;
        }
        return back;
    }

    /** As {@code SentencePieceProcessor.decode_pieces(pieces)}. */
    String decodePieces(List<String> pieces) {
        StringBuilder text = new StringBuilder();
        byte[] run = new byte[pieces.size()];
        int runLen = 0;
        // the first word-start marker is the dummy prefix: dropped while nothing has been written yet
        boolean expectPrefix = true, prefixSeen = false;
        for (String piece : pieces) {
            int id = pieceToId(piece);
            if (type(id) == SentencePieceModel.BYTE) {
                run[runLen++] = (byte) byteOf(piece);
                continue;
            }
            appendBytes(text, run, runLen);
            runLen = 0;
            if (prefixSeen || text.length() > 0) {
                expectPrefix = false;
            }
            prefixSeen = false;
            int t = type(id);
            if (t == SentencePieceModel.CONTROL) {
                continue;
            }
            if (t == SentencePieceModel.UNKNOWN) {
                // the unknown piece itself reads as the model's unk surface; any other missing piece as itself
                text.append(piece.equals(model.pieces.get(id).piece()) ? model.unkSurface : piece);
                continue;
            }
            SentencePieceModel.NormalizerSpec n = model.normalizer;
            if (expectPrefix && (n.addDummyPrefix() || n.removeExtraWhitespaces()) && piece.startsWith(SPACE_SYMBOL)) {
                piece = piece.substring(SPACE_SYMBOL.length());
                // without whitespace squeezing only one marker is the prefix; with it, every leading one
                prefixSeen = !n.removeExtraWhitespaces();
            }
            text.append(piece.replace(SPACE_SYMBOL, " "));
        }
        appendBytes(text, run, runLen);
        return text.toString();
    }

    /** Byte pieces as text: each well-formed UTF-8 character as itself, each other byte as U+FFFD. */
    private static void appendBytes(StringBuilder text, byte[] bytes, int len) {
        int i = 0;
        while (i < len) {
            int n = Utf8.validCharLen(bytes, i, len);
            if (n < 0) {
                text.append('\uFFFD');
                i++;
            } else {
                text.append(new String(bytes, i, n, StandardCharsets.UTF_8));
                i += n;
            }
        }
    }

    private static final String HEX = "0123456789ABCDEF";

    /** {@code <0xXX>} with upper-case hex, as the library names byte pieces (no locale involved). */
    private static String bytePiece(int b) {
        return "<0x" + HEX.charAt(b >>> 4) + HEX.charAt(b & 15) + ">";
    }

    /** The byte of a {@code <0xXX>} piece (upper-case ASCII hex only, as the library writes them), -1 otherwise. */
    static int byteOf(String piece) {
        if (piece.length() != 6 || !piece.startsWith("<0x") || piece.charAt(5) != '>') {
            return -1;
        }
        int hi = HEX.indexOf(piece.charAt(3)), lo = HEX.indexOf(piece.charAt(4));
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }
}
