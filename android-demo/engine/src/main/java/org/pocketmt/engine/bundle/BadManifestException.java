package org.pocketmt.engine.bundle;

/**
 * The manifest is not valid JSON, lacks a field the engine needs, has one of the wrong type, or names
 * a file outside the bundle folder.
 */
public final class BadManifestException extends BundleException {
    public BadManifestException(String message) {
        super(message);
    }
}
