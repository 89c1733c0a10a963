//! The safe wrapper around `ffi`: the only other place with `unsafe` code.
//!
//! Two users:
//! - the XSLT worker process (`worker.rs`), through [`Sandbox`], [`Stylesheet`] and [`Document`]:
//!   it installs the security policy once, compiles one stylesheet and applies it;
//! - anyone who wants to check that bytes are well-formed XML, through [`parse_xml`], which
//!   builds a small Rust tree with libxml2's reader (no network, no DTD, no entities). Tests use
//!   it to parse the adapter's output back.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};

use super::ffi;

static INIT: Once = Once::new();

fn init_libxml() {
    INIT.call_once(|| {
        // SAFETY: global initialisation, once per process, before any other libxml2 call.
        unsafe { ffi::xmlInitParser() }
    });
}

// ---------------------------------------------------------------------------------------------
// Parsing XML into a small tree (tests, validation).

/// An element of a document parsed by [`parse_xml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlElement {
    pub name: String,
    /// In document order, namespace declarations (`xmlns:…`) included.
    pub attributes: Vec<(String, String)>,
    pub children: Vec<XmlNode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlNode {
    Element(XmlElement),
    Text(String),
}

impl XmlElement {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &XmlElement> {
        self.children.iter().filter_map(|c| match c {
            XmlNode::Element(e) => Some(e),
            XmlNode::Text(_) => None,
        })
    }

    pub fn elements_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlElement> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&XmlElement> {
        self.elements().find(|e| e.name == name)
    }

    /// The concatenated text of this element and its descendants.
    pub fn text(&self) -> String {
        let mut s = String::new();
        fn walk(e: &XmlElement, s: &mut String) {
            for c in &e.children {
                match c {
                    XmlNode::Text(t) => s.push_str(t),
                    XmlNode::Element(e) => walk(e, s),
                }
            }
        }
        walk(self, &mut s);
        s
    }
}

/// Why [`parse_xml`] refused a document: libxml2's messages, each with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not well-formed XML: {}", .messages.join("; "))]
pub struct XmlParseError {
    pub messages: Vec<String>,
}

unsafe extern "C" fn collect_reader_error(
    arg: *mut c_void,
    msg: *const c_char,
    _severity: c_int,
    locator: ffi::XmlTextReaderLocatorPtr,
) {
    if arg.is_null() || msg.is_null() {
        return;
    }
    // SAFETY: `arg` is the `&mut Vec<String>` that `parse_xml` registered and outlives the
    // reader; `msg` is a NUL-terminated string owned by libxml2 for the duration of the call.
    unsafe {
        let messages = &mut *(arg as *mut Vec<String>);
        let line = if locator.is_null() { -1 } else { ffi::xmlTextReaderLocatorLineNumber(locator) };
        let text = CStr::from_ptr(msg).to_string_lossy();
        messages.push(format!("line {line}: {}", text.trim_end()));
    }
}

struct Reader(ffi::XmlTextReaderPtr);

impl Drop for Reader {
    fn drop(&mut self) {
        // SAFETY: the pointer came from xmlReaderForMemory and is freed once.
        unsafe { ffi::xmlFreeTextReader(self.0) }
    }
}

fn const_str(p: *const u8) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libxml2 returns NUL-terminated UTF-8 strings valid until the next read.
    unsafe { CStr::from_ptr(p as *const c_char) }.to_string_lossy().into_owned()
}

/// Parses `bytes` with libxml2 (network, DTD loading and entity substitution off) into a tree.
/// Whitespace-only text between elements is dropped; other text is kept.
pub fn parse_xml(bytes: &[u8]) -> Result<XmlElement, XmlParseError> {
    init_libxml();
    let size = c_int::try_from(bytes.len())
        .map_err(|_| XmlParseError { messages: vec!["document larger than 2 GiB".into()] })?;
    let mut messages: Vec<String> = Vec::new();
    // SAFETY: the buffer outlives the reader (dropped at the end of this function); the URL
    // and encoding are a static C string and NULL.
    let reader = unsafe {
        ffi::xmlReaderForMemory(
            bytes.as_ptr() as *const c_char,
            size,
            c"memory.xml".as_ptr(),
            ptr::null(),
            ffi::XML_PARSE_NONET,
        )
    };
    if reader.is_null() {
        return Err(XmlParseError { messages: vec!["libxml2 could not create a reader".into()] });
    }
    let reader = Reader(reader);
    // SAFETY: `messages` lives until after the reader is freed (declared before it).
    unsafe {
        ffi::xmlTextReaderSetErrorHandler(
            reader.0,
            Some(collect_reader_error),
            &mut messages as *mut Vec<String> as *mut c_void,
        )
    };
    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    let attach = |stack: &mut Vec<XmlElement>, root: &mut Option<XmlElement>, e: XmlElement| match stack.last_mut() {
        Some(parent) => parent.children.push(XmlNode::Element(e)),
        None => *root = Some(e),
    };
    loop {
        // SAFETY: `reader.0` is a live reader; all calls below only read its current node.
        let r = unsafe { ffi::xmlTextReaderRead(reader.0) };
        if r == 0 {
            break;
        }
        if r < 0 {
            drop(reader);
            if messages.is_empty() {
                messages.push("parse error".into());
            }
            return Err(XmlParseError { messages });
        }
        let kind = unsafe { ffi::xmlTextReaderNodeType(reader.0) };
        match kind {
            ffi::XML_READER_TYPE_ELEMENT => {
                let name = const_str(unsafe { ffi::xmlTextReaderConstName(reader.0) });
                let empty = unsafe { ffi::xmlTextReaderIsEmptyElement(reader.0) } == 1;
                let mut attributes = Vec::new();
                while unsafe { ffi::xmlTextReaderMoveToNextAttribute(reader.0) } == 1 {
                    let n = const_str(unsafe { ffi::xmlTextReaderConstName(reader.0) });
                    let v = const_str(unsafe { ffi::xmlTextReaderConstValue(reader.0) });
                    attributes.push((n, v));
                }
                unsafe { ffi::xmlTextReaderMoveToElement(reader.0) };
                let e = XmlElement { name, attributes, children: Vec::new() };
                if empty {
                    attach(&mut stack, &mut root, e);
                } else {
                    stack.push(e);
                }
            }
            ffi::XML_READER_TYPE_END_ELEMENT => {
                if let Some(e) = stack.pop() {
                    attach(&mut stack, &mut root, e);
                }
            }
            ffi::XML_READER_TYPE_TEXT | ffi::XML_READER_TYPE_CDATA | ffi::XML_READER_TYPE_SIGNIFICANT_WHITESPACE => {
                let t = const_str(unsafe { ffi::xmlTextReaderConstValue(reader.0) });
                if let Some(parent) = stack.last_mut() {
                    match parent.children.last_mut() {
                        Some(XmlNode::Text(prev)) => prev.push_str(&t),
                        _ => parent.children.push(XmlNode::Text(t)),
                    }
                }
            }
            _ => {}
        }
    }
    drop(reader);
    match root {
        Some(r) if messages.is_empty() => Ok(r),
        Some(_) => Err(XmlParseError { messages }),
        None => Err(XmlParseError { messages: vec!["no root element".into()] }),
    }
}

// ---------------------------------------------------------------------------------------------
// The worker's sandbox.

/// The canonical folder a stylesheet may read from (set once per worker process).
static FOLDER: OnceLock<PathBuf> = OnceLock::new();
/// libxslt's own document loader, which ours wraps.
static ORIGINAL_LOADER: OnceLock<ffi::XsltDocLoaderFunc> = OnceLock::new();
/// The security preferences installed by [`Sandbox::install`] (never freed: one per process).
static PREFS: OnceLock<usize> = OnceLock::new();

/// Set when the policy refused anything: the run then fails even if libxml2 only warned (an
/// external entity that isn't loaded is a warning to libxml2, but a stylesheet that tries it is
/// not one we run).
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Whether the sandbox has refused a read, load or entity since the process started.
pub(crate) fn refused() -> bool {
    REFUSED.load(Ordering::SeqCst)
}

fn refuse(what: std::fmt::Arguments<'_>) {
    REFUSED.store(true, Ordering::SeqCst);
    eprintln!("longhall-xslt-worker: security policy: {what}");
}

thread_local! {
    /// The one resource libxml2's entity loader may open right now: the document our loader
    /// (or `Document::parse_file`) is loading. Anything else (external DTD, external entity,
    /// XInclude, network) is refused.
    static LOADING: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Turns a URI as libxml2/libxslt hand it over into a local path; `None` for any other scheme.
fn local_path(uri: &str) -> Option<PathBuf> {
    let path = if let Some(rest) = uri.strip_prefix("file://") {
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        percent_decode(rest)?
    } else if let Some(rest) = uri.strip_prefix("file:") {
        percent_decode(rest)?
    } else {
        // A scheme is letters/digits/+-. followed by ':' before any '/'.
        if let Some(colon) = uri.find(':') {
            let scheme = &uri[..colon];
            if !scheme.is_empty()
                && !scheme.contains('/')
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            {
                return None;
            }
        }
        uri.to_owned()
    };
    if path.is_empty() { None } else { Some(PathBuf::from(path)) }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `uri` names an existing file inside the stylesheet's folder (symlinks resolved).
fn inside_folder(uri: &str) -> bool {
    let Some(folder) = FOLDER.get() else { return false };
    let Some(path) = local_path(uri) else { return false };
    match std::fs::canonicalize(&path) {
        Ok(p) => p.starts_with(folder) && p != *folder,
        Err(_) => false,
    }
}

fn same_resource(a: &CStr, b: &CStr) -> bool {
    if a == b {
        return true;
    }
    let (Some(pa), Some(pb)) = (local_path(&a.to_string_lossy()), local_path(&b.to_string_lossy())) else {
        return false;
    };
    matches!((std::fs::canonicalize(pa), std::fs::canonicalize(pb)), (Ok(x), Ok(y)) if x == y)
}

/// libxslt's READ_FILE check: only files inside the stylesheet's folder.
unsafe extern "C" fn read_check(
    _sec: ffi::XsltSecurityPrefsPtr,
    _ctxt: ffi::XsltTransformContextPtr,
    value: *const c_char,
) -> c_int {
    if value.is_null() {
        return 0;
    }
    // SAFETY: libxslt passes a NUL-terminated path.
    let v = unsafe { CStr::from_ptr(value) }.to_string_lossy();
    if inside_folder(&v) {
        1
    } else {
        refuse(format_args!("reading {v:?} refused (only files in the stylesheet's own folder may be read)"));
        0
    }
}

/// Wraps libxslt's document loader (stylesheet, xsl:import/include, document()): refuses
/// anything outside the stylesheet's folder, turns network off and external-DTD loading off,
/// and lets the entity loader open exactly this one resource.
unsafe extern "C" fn doc_loader(
    uri: *const u8,
    dict: ffi::XmlDictPtr,
    options: c_int,
    ctxt: *mut c_void,
    load_type: c_int,
) -> ffi::XmlDocPtr {
    if uri.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: libxslt passes a NUL-terminated URI.
    let c = unsafe { CStr::from_ptr(uri as *const c_char) };
    let s = c.to_string_lossy();
    if !inside_folder(&s) {
        refuse(format_args!("loading {s:?} refused (only files in the stylesheet's own folder may be read)"));
        return ptr::null_mut();
    }
    let Some(original) = ORIGINAL_LOADER.get() else { return ptr::null_mut() };
    let options = (options | ffi::XML_PARSE_NONET) & !ffi::XML_PARSE_DTDLOAD;
    let previous = LOADING.with(|l| l.replace(Some(c.to_owned())));
    // SAFETY: forwarding libxslt's own arguments to its own loader.
    let doc = unsafe { original(uri, dict, options, ctxt, load_type) };
    LOADING.with(|l| *l.borrow_mut() = previous);
    doc
}

/// libxml2's external entity loader: opens only the resource being loaded right now (see
/// `LOADING`), never over the network.
unsafe extern "C" fn entity_loader(
    url: *const c_char,
    id: *const c_char,
    ctxt: ffi::XmlParserCtxtPtr,
) -> ffi::XmlParserInputPtr {
    if url.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: libxml2 passes a NUL-terminated URL.
    let c = unsafe { CStr::from_ptr(url) };
    let allowed = LOADING.with(|l| l.borrow().as_deref().is_some_and(|cur| same_resource(cur, c)));
    if !allowed {
        refuse(format_args!(
            "external resource {:?} refused (external DTDs, external entities and network access are disabled)",
            c.to_string_lossy()
        ));
        return ptr::null_mut();
    }
    // SAFETY: libxml2's own no-network loader with the arguments we were given.
    unsafe { ffi::xmlNoNetExternalEntityLoader(url, id, ctxt) }
}

/// The worker's security policy, installed once per process before anything is parsed.
pub(crate) struct Sandbox;

impl Sandbox {
    /// Initialises libxml2/libxslt/libexslt and installs the policy: reads only inside
    /// `folder` (canonicalised), no file writes, no directory creation, no network (libxslt
    /// security prefs, plus libxml2's entity loader and XML_PARSE_NONET), no external DTDs or
    /// entities. Fails if `folder` doesn't exist or a policy is already installed.
    pub(crate) fn install(folder: &Path) -> Result<Sandbox, String> {
        let folder =
            std::fs::canonicalize(folder).map_err(|e| format!("stylesheet folder {}: {e}", folder.display()))?;
        FOLDER.set(folder).map_err(|_| "the sandbox is already installed".to_owned())?;
        init_libxml();
        // SAFETY: one-time global set-up of the C libraries, before any stylesheet is parsed;
        // the function pointers are `extern "C"` functions with the documented signatures.
        unsafe {
            ffi::xsltInit();
            ffi::exsltRegisterAll();
            let sec = ffi::xsltNewSecurityPrefs();
            if sec.is_null() {
                return Err("xsltNewSecurityPrefs failed".into());
            }
            let mut rc = ffi::xsltSetSecurityPrefs(sec, ffi::XSLT_SECPREF_READ_FILE, Some(read_check));
            for opt in [
                ffi::XSLT_SECPREF_WRITE_FILE,
                ffi::XSLT_SECPREF_CREATE_DIRECTORY,
                ffi::XSLT_SECPREF_READ_NETWORK,
                ffi::XSLT_SECPREF_WRITE_NETWORK,
            ] {
                rc |= ffi::xsltSetSecurityPrefs(sec, opt, Some(ffi::xsltSecurityForbid));
            }
            if rc != 0 {
                return Err("xsltSetSecurityPrefs failed".into());
            }
            ffi::xsltSetDefaultSecurityPrefs(sec);
            let _ = PREFS.set(sec as usize);
            let Some(original) = ffi::xsltDocDefaultLoader else {
                return Err("libxslt has no default document loader".into());
            };
            let _ = ORIGINAL_LOADER.set(original);
            ffi::xsltSetLoaderFunc(Some(doc_loader));
            ffi::xmlSetExternalEntityLoader(Some(entity_loader));
        }
        Ok(Sandbox)
    }

    /// Compiles the stylesheet at `path` (inside the folder). `None` when it is broken; libxml2
    /// and libxslt have then written the reasons, with line numbers, to stderr.
    pub(crate) fn compile(&self, path: &Path) -> Option<Stylesheet> {
        let c = CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: a NUL-terminated path; the result is owned by the returned Stylesheet.
        let style = unsafe { ffi::xsltParseStylesheetFile(c.as_ptr() as *const u8) };
        if style.is_null() { None } else { Some(Stylesheet(style)) }
    }
}

/// A compiled stylesheet (not `Send`: libxslt objects stay on the thread that made them).
pub(crate) struct Stylesheet(ffi::XsltStylesheetPtr);

impl Drop for Stylesheet {
    fn drop(&mut self) {
        // SAFETY: owned pointer from xsltParseStylesheetFile, freed once.
        unsafe { ffi::xsltFreeStylesheet(self.0) }
    }
}

/// A parsed XML document or a transformation result.
pub(crate) struct Document(ffi::XmlDocPtr);

impl Drop for Document {
    fn drop(&mut self) {
        // SAFETY: owned pointer from xmlRead*/xsltApplyStylesheetUser, freed once.
        unsafe { ffi::xmlFreeDoc(self.0) }
    }
}

/// Options for the transformation input: our own trusted output, possibly large.
const INPUT_OPTIONS: c_int = ffi::XML_PARSE_NONET | ffi::XML_PARSE_NOCDATA | ffi::XML_PARSE_HUGE;

impl Document {
    /// Parses the file at `path` (no network, no DTD, no entity substitution).
    pub(crate) fn parse_file(path: &Path) -> Option<Document> {
        let c = CString::new(path.as_os_str().as_bytes()).ok()?;
        let previous = LOADING.with(|l| l.replace(Some(c.clone())));
        // SAFETY: NUL-terminated path, NULL encoding.
        let doc = unsafe { ffi::xmlReadFile(c.as_ptr(), ptr::null(), INPUT_OPTIONS) };
        LOADING.with(|l| *l.borrow_mut() = previous);
        if doc.is_null() { None } else { Some(Document(doc)) }
    }

    /// Parses standard input.
    pub(crate) fn parse_stdin() -> Option<Document> {
        // SAFETY: fd 0 is open for the process's lifetime; libxml2 reads it without closing.
        let doc = unsafe { ffi::xmlReadFd(0, c"stdin".as_ptr(), ptr::null(), INPUT_OPTIONS) };
        if doc.is_null() { None } else { Some(Document(doc)) }
    }
}

impl Stylesheet {
    /// Applies the stylesheet under the sandbox's security prefs. `None` on any transformation
    /// error (refused reads or writes included); the reasons are on stderr.
    pub(crate) fn apply(&self, input: &Document) -> Option<Document> {
        // SAFETY: live stylesheet and document; the context is freed before returning, the
        // result document is owned by the returned Document.
        unsafe {
            let ctxt = ffi::xsltNewTransformContext(self.0, input.0);
            if ctxt.is_null() {
                return None;
            }
            if let Some(sec) = PREFS.get()
                && ffi::xsltSetCtxtSecurityPrefs(*sec as ffi::XsltSecurityPrefsPtr, ctxt) != 0
            {
                ffi::xsltFreeTransformContext(ctxt);
                return None;
            }
            let result = ffi::xsltApplyStylesheetUser(self.0, input.0, ptr::null(), ptr::null(), ptr::null_mut(), ctxt);
            ffi::xsltFreeTransformContext(ctxt);
            if result.is_null() { None } else { Some(Document(result)) }
        }
    }

    /// Serialises `result` as `<xsl:output>` says (method, encoding, indent…) to `file`.
    pub(crate) fn save(&self, result: &Document, file: &File) -> bool {
        // SAFETY: a valid open descriptor for the duration of the call; live documents.
        unsafe { ffi::xsltSaveResultToFd(file.as_raw_fd(), result.0, self.0) >= 0 }
    }

    /// Same, to standard output.
    pub(crate) fn save_stdout(&self, result: &Document) -> bool {
        // SAFETY: fd 1 stays open; live documents.
        unsafe { ffi::xsltSaveResultToFd(1, result.0, self.0) >= 0 }
    }
}

/// Sends SIGKILL to the process group `pgid` (a child started with `process_group(0)`, so its
/// pid), which also ends anything it started. Errors (already gone) are ignored.
pub(crate) fn kill_process_group(pgid: u32) {
    let Ok(pid) = c_int::try_from(pgid) else { return };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
    unsafe {
        ffi::kill(-pid, ffi::SIGKILL);
    }
}

/// Kills one process (SIGKILL), whether or not it leads a process group.
pub(crate) fn kill_process(pid: u32) {
    let Ok(pid) = c_int::try_from(pid) else { return };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) signals that process; no memory involved.
    unsafe {
        ffi::kill(pid, ffi::SIGKILL);
    }
}

/// Ends the process at once with `code`, from any thread: no exit handlers run, so nothing
/// races the libxslt work still going on in the main thread.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) ends the process; it touches no memory of ours.
    unsafe { ffi::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_tree_and_rejects_malformed_xml() {
        let doc =
            parse_xml(b"<?xml version=\"1.0\"?>\n<a x=\"1&amp;2\" y='&#10;'>\n  <b>t&lt;</b><c/>tail</a>").unwrap();
        assert_eq!(doc.name, "a");
        assert_eq!(doc.attr("x"), Some("1&2"));
        assert_eq!(doc.attr("y"), Some("\n"));
        assert_eq!(doc.child("b").unwrap().text(), "t<");
        assert_eq!(doc.elements().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        let err = parse_xml(b"<a>\n<b></a>").unwrap_err();
        assert!(err.messages.iter().any(|m| m.starts_with("line 2")), "{err}");
        assert!(parse_xml(b"<a>\x01</a>").is_err());
    }

    #[test]
    fn local_paths_and_schemes() {
        assert_eq!(local_path("/tmp/a b.xml"), Some(PathBuf::from("/tmp/a b.xml")));
        assert_eq!(local_path("file:///tmp/a%20b.xml"), Some(PathBuf::from("/tmp/a b.xml")));
        assert_eq!(local_path("file://localhost/etc/x"), Some(PathBuf::from("/etc/x")));
        assert_eq!(local_path("http://example.org/x"), None);
        assert_eq!(local_path("ftp://example.org/x"), None);
        assert_eq!(local_path("relative/x.xml"), Some(PathBuf::from("relative/x.xml")));
    }
}
