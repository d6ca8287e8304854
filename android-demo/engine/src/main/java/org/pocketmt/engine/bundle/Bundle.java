package org.pocketmt.engine.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;

/**
 * An opened bundle folder: its manifest, and its files checked before use. The Java twin of
 * {@code runtime/bundle.py}: same checks, same order (listed, present, size, then sha256), same
 * one-line messages.
 */
public final class Bundle {
    public static final List<String> BACKENDS = List.of("executorch", "onnx");
    /** The largest manifest read (as {@code MAX_MANIFEST_BYTES} in {@code runtime/manifest.py}). */
    public static final long MAX_MANIFEST_BYTES = 16L << 20;

    private final Path path;
    private final Path realRoot;
    private final Manifest manifest;

    private Bundle(Path path, Path realRoot, Manifest manifest) {
        this.path = path;
        this.realRoot = realRoot;
        this.manifest = manifest;
    }

    public static Bundle open(Path path) throws BundleException {
        if (!Files.exists(path)) {
            throw new MissingFileException("bundle folder not found: " + path);
        }
        if (!Files.isDirectory(path)) {
            throw new MissingFileException("not a bundle folder: " + path);
        }
        Path manifestPath = path.resolve(Manifest.NAME);
        if (!Files.isRegularFile(manifestPath)) {
            throw new MissingFileException(path + ": not a pocketmt bundle (no " + Manifest.NAME + ")");
        }
        Path realRoot;
        try {
            realRoot = path.toRealPath();
            Path real = manifestPath.toRealPath();
            if (!real.getParent().equals(realRoot)) {
                throw new BadManifestException(manifestPath + ": resolves outside the bundle folder (" + real + ")");
            }
        } catch (IOException e) {
            throw new MissingFileException(path + ": not a pocketmt bundle (no " + Manifest.NAME + ")");
        }
        String text;
        try {
            if (Files.size(manifestPath) > MAX_MANIFEST_BYTES) {
                throw new BadManifestException(manifestPath + ": " + Files.size(manifestPath)
                        + " bytes, more than the " + (MAX_MANIFEST_BYTES >> 20) + " MiB a manifest may have");
            }
            byte[] raw = Files.readAllBytes(manifestPath);
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException e) {
            throw new BadManifestException(manifestPath + ": not valid JSON (not UTF-8)");
        } catch (IOException e) {
            throw new MissingFileException(manifestPath + ": cannot read (" + e.getMessage() + ")");
        }
        return new Bundle(path, realRoot, Manifest.parse(text, manifestPath.toString()));
    }

    public Path path() {
        return path;
    }

    public Manifest manifest() {
        return manifest;
    }

    /**
     * The path of a file the manifest names. Refused when the name is not plain or when the file
     * (a symlink) resolves outside the bundle folder.
     */
    public Path file(String name) throws BundleException {
        FileNames.requirePlain(name, path.resolve(Manifest.NAME).toString(), "files");
        Path p = path.resolve(name);
        if (Files.exists(p)) {
            try {
                Path real = p.toRealPath();
                if (!real.getParent().equals(realRoot)) {
                    throw new BadManifestException(p + ": resolves outside the bundle folder (" + real + ")");
                }
            } catch (IOException e) {
                throw new MissingFileException(path + ": file missing: " + name);
            }
        }
        return p;
    }

    /** Refuse missing, truncated or altered files (size, then sha256); all listed files when null. */
    public void checkFiles(List<String> names) throws BundleException {
        for (String name : names != null ? names : List.copyOf(manifest.files.keySet())) {
            Manifest.FileEntry entry = manifest.files.get(name);
            if (entry == null) {
                throw new BadManifestException(path + ": manifest does not list " + name);
            }
            Path p = file(name);
            if (!Files.isRegularFile(p)) {
                throw new MissingFileException(path + ": file missing: " + name);
            }
            long size;
            String sha;
            try {
                size = Files.size(p);
                sha = size == entry.bytes() ? sha256(p) : null;
            } catch (IOException e) {
                throw new MissingFileException(p + ": cannot read (" + Manifest.oneLine(e.getMessage()) + ")");
            }
            if (size != entry.bytes()) {
                throw new AlteredFileException(p + ": size " + size + " bytes, manifest says " + entry.bytes()
                        + " (truncated or replaced file)");
            }
            if (!sha.equals(entry.sha256())) {
                throw new AlteredFileException(p + ": sha256 mismatch (file altered or corrupted)");
            }
        }
    }

    /** The backend to use: the one asked for, else ExecuTorch when the bundle has it, else the first. */
    public String resolveBackend(String backend) throws BundleException {
        List<String> available = manifest.backends();
        if (backend == null) {
            return available.contains("executorch") ? "executorch" : available.get(0);
        }
        if (!BACKENDS.contains(backend)) {
            throw new BundleException("unknown backend '" + backend + "'; choose one of "
                    + String.join(", ", BACKENDS));
        }
        if (!available.contains(backend)) {
            throw new MissingFileException(path + ": bundle has no " + backend + " graphs (it has: "
                    + String.join(", ", available) + ")");
        }
        return backend;
    }

    public void checkBackendFiles(String backend) throws BundleException {
        checkFiles(manifest.filesForBackend(backend));
    }

    static String sha256(Path p) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(p)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                digest.update(buf, 0, n);
            }
        }
        // by hand: java.util.HexFormat is missing from older Android releases
        StringBuilder hex = new StringBuilder(64);
        for (byte b : digest.digest()) {
            hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return hex.toString();
    }
}
