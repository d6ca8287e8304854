package org.pocketmt.engine.bundle;

/** The manifest's schema_version is newer than this engine reads: the app needs an update. */
public final class NewerSchemaException extends BundleException {
    public NewerSchemaException(String message) {
        super(message);
    }
}
