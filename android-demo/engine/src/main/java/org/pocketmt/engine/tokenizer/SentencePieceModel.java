package org.pocketmt.engine.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The parts of SentencePiece's ModelProto (sentencepiece_model.proto) that encoding and decoding
 * use. Field numbers and defaults are those of the proto; absent fields keep the proto defaults.
 */
final class SentencePieceModel {
    /** SentencePiece.Type values of the proto. */
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;
    /** TrainerSpec.ModelType value of the unigram model, the only one this reader encodes with. */
    static final int UNIGRAM = 1;

    record Piece(String piece, float score, int type) {}

    /** NormalizerSpec fields the normalizer reads. */
    record NormalizerSpec(String name, byte[] precompiledCharsmap, boolean addDummyPrefix,
                          boolean removeExtraWhitespaces, boolean escapeWhitespaces) {}

    final List<Piece> pieces;
    final int modelType;
    final boolean byteFallback;
    final boolean treatWhitespaceAsSuffix;
    final int unkId, bosId, eosId, padId;
    final String unkSurface;
    final NormalizerSpec normalizer;
    /** Present only when the model has a denormalizer with a charsmap (this reader does not apply one). */
    final NormalizerSpec denormalizer;

    private SentencePieceModel(List<Piece> pieces, int modelType, boolean byteFallback, boolean treatWhitespaceAsSuffix,
                               int unkId, int bosId, int eosId, int padId, String unkSurface,
                               NormalizerSpec normalizer, NormalizerSpec denormalizer) {
        this.pieces = Collections.unmodifiableList(pieces);
        this.modelType = modelType;
        this.byteFallback = byteFallback;
        this.treatWhitespaceAsSuffix = treatWhitespaceAsSuffix;
        this.unkId = unkId;
        this.bosId = bosId;
        this.eosId = eosId;
        this.padId = padId;
        this.unkSurface = unkSurface;
        this.normalizer = normalizer;
        this.denormalizer = denormalizer;
    }

    static SentencePieceModel load(Path file) throws TokenizerException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new TokenizerException("cannot load SentencePiece model: " + file + ": " + e.getMessage(), e);
        }
        try {
            return parse(bytes);
        } catch (TokenizerException e) {
            throw new TokenizerException("cannot load SentencePiece model: " + file + ": " + e.getMessage(), e);
        }
    }

    static SentencePieceModel parse(byte[] bytes) throws TokenizerException {
        List<Piece> pieces = new ArrayList<>();
        // TrainerSpec defaults (sentencepiece_model.proto)
        int modelType = UNIGRAM, unkId = 0, bosId = 1, eosId = 2, padId = -1;
        boolean byteFallback = false, suffix = false;
        String unkSurface = " \u2047 ";
        NormalizerSpec normalizer = defaultNormalizer(), denormalizer = null;
        ProtoReader r = new ProtoReader(bytes);
        while (!r.atEnd()) {
            switch (r.nextField()) {
                case 1 -> pieces.add(readPiece(r.readMessage()));
                case 2 -> {
                    ProtoReader t = r.readMessage();
                    while (!t.atEnd()) {
                        switch (t.nextField()) {
                            case 3 -> modelType = t.readInt32();
                            case 24 -> suffix = t.readBool();
                            case 35 -> byteFallback = t.readBool();
                            case 40 -> unkId = t.readInt32();
                            case 41 -> bosId = t.readInt32();
                            case 42 -> eosId = t.readInt32();
                            case 43 -> padId = t.readInt32();
                            case 44 -> unkSurface = t.readString();
                            default -> t.skipField();
                        }
                    }
                }
                case 3 -> normalizer = readNormalizer(r.readMessage());
                case 5 -> {
                    NormalizerSpec d = readNormalizer(r.readMessage());
                    denormalizer = d.precompiledCharsmap().length > 0 ? d : null;
                }
                default -> r.skipField();
            }
        }
        if (pieces.isEmpty()) {
            throw new TokenizerException("model has no pieces");
        }
        return new SentencePieceModel(pieces, modelType, byteFallback, suffix, unkId, bosId, eosId, padId,
                unkSurface, normalizer, denormalizer);
    }

    private static Piece readPiece(ProtoReader r) throws TokenizerException {
        String piece = "";
        float score = 0f;
        int type = NORMAL;
        while (!r.atEnd()) {
            switch (r.nextField()) {
                case 1 -> piece = r.readString();
                case 2 -> score = r.readFloat();
                case 3 -> type = r.readInt32();
                default -> r.skipField();
            }
        }
        return new Piece(piece, score, type);
    }

    private static NormalizerSpec defaultNormalizer() {
        return new NormalizerSpec("", new byte[0], true, true, true);
    }

    private static NormalizerSpec readNormalizer(ProtoReader r) throws TokenizerException {
        String name = "";
        byte[] charsmap = new byte[0];
        boolean dummy = true, removeExtra = true, escape = true;
        while (!r.atEnd()) {
            switch (r.nextField()) {
                case 1 -> name = r.readString();
                case 2 -> charsmap = r.readBytes();
                case 3 -> dummy = r.readBool();
                case 4 -> removeExtra = r.readBool();
                case 5 -> escape = r.readBool();
                default -> r.skipField();
            }
        }
        return new NormalizerSpec(name, charsmap, dummy, removeExtra, escape);
    }
}
