import { clone, createFileRegistry, type DescFile, type FileRegistry } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** `root` and every file it imports, transitively, by file name. */
export function fileClosure(root: DescFile): Map<string, DescFile> {
  const files = new Map<string, DescFile>();
  const collect = (file: DescFile): void => {
    if (!files.has(file.proto.name)) {
      files.set(file.proto.name, file);
      file.dependencies.forEach(collect);
    }
  };
  collect(root);
  return files;
}

/**
 * A registry of `root` and its imports in which the files `shadow` picks are edited clones (same
 * package, names and field numbers, so they stay wire-compatible) and the others are the real ones:
 * references between shadowed files resolve to the shadows. Generated descriptors are untouched.
 */
export function shadowRegistry(
  root: DescFile,
  shadow: (file: DescFile) => boolean,
  edit: (proto: FileDescriptorProto) => void,
): FileRegistry {
  const real = fileClosure(root);
  const shadows = new Map<string, FileDescriptorProto>();
  for (const [name, file] of real) {
    if (shadow(file)) {
      const proto = clone(FileDescriptorProtoSchema, file.proto);
      edit(proto);
      shadows.set(name, proto);
    }
  }
  const rootProto = shadows.get(root.proto.name) ?? clone(FileDescriptorProtoSchema, root.proto);
  return createFileRegistry(rootProto, (name) => shadows.get(name) ?? real.get(name));
}
