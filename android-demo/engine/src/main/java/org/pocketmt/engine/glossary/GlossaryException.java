package org.pocketmt.engine.glossary;

/** A glossary the user must fix: the one-line message of Python's {@code InputError}, word for word. */
public final class GlossaryException extends Exception {
    private static final long serialVersionUID = 1L;

    public GlossaryException(String message) {
        super(message);
    }
}
