package org.pocketmt.engine.bundle;

/**
 * A manifest may only name plain files inside the bundle folder: a name with a separator, {@code ..},
 * a drive letter or a control character could make the engine read (and trust) any file on the
 * device. Symlinks that leave the folder are refused when the file is opened ({@link Bundle#file}).
 */
final class FileNames {
    private FileNames() {}

    static void requirePlain(String name, String where, String field) throws BadManifestException {
        String why = problem(name);
        if (why != null) {
            throw new BadManifestException(where + ": invalid manifest at " + field + ": file name "
                    + quoted(name) + " " + why + " (only plain names inside the bundle folder)");
        }
    }

    static String problem(String name) {
        if (name.isEmpty()) {
            return "is empty";
        }
        if (name.equals(".") || name.equals("..")) {
            return "is a folder reference";
        }
        if (name.indexOf('/') >= 0 || name.indexOf('\\') >= 0) {
            return "has a path separator";
        }
        if (name.length() >= 2 && name.charAt(1) == ':') {
            return "has a drive letter";
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isISOControl(name.charAt(i))) {
                return "has a control character";
            }
        }
        return null;
    }

    static String quoted(String name) {
        StringBuilder b = new StringBuilder("'");
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            b.append(Character.isISOControl(c) ? String.format("\\x%02x", (int) c) : String.valueOf(c));
        }
        return b.append('\'').toString();
    }
}
