//! The few libxml2 / libxslt / libexslt (and libc) functions Longhall calls, declared by hand
//! (no bindgen, so no libclang at build time). Signatures follow the Debian bookworm headers
//! (libxml2 2.9.14, libxslt 1.1.35); only opaque pointers cross the boundary, never a struct
//! whose layout we would have to mirror.
//!
//! Nothing here is used directly except by the safe wrapper in `engine.rs`.

use std::ffi::{c_char, c_int, c_void};

pub type XmlDocPtr = *mut c_void;
pub type XmlDictPtr = *mut c_void;
pub type XmlParserCtxtPtr = *mut c_void;
pub type XmlParserInputPtr = *mut c_void;
pub type XmlTextReaderPtr = *mut c_void;
pub type XmlTextReaderLocatorPtr = *mut c_void;
pub type XsltStylesheetPtr = *mut c_void;
pub type XsltTransformContextPtr = *mut c_void;
pub type XsltSecurityPrefsPtr = *mut c_void;

// xmlParserOption (parser.h).
pub const XML_PARSE_DTDLOAD: c_int = 1 << 2;
pub const XML_PARSE_NONET: c_int = 1 << 11;
pub const XML_PARSE_NOCDATA: c_int = 1 << 14;
pub const XML_PARSE_HUGE: c_int = 1 << 19;

// xmlReaderTypes (xmlreader.h).
pub const XML_READER_TYPE_ELEMENT: c_int = 1;
pub const XML_READER_TYPE_TEXT: c_int = 3;
pub const XML_READER_TYPE_CDATA: c_int = 4;
pub const XML_READER_TYPE_SIGNIFICANT_WHITESPACE: c_int = 14;
pub const XML_READER_TYPE_END_ELEMENT: c_int = 15;

// xsltSecurityOption (security.h).
pub const XSLT_SECPREF_READ_FILE: c_int = 1;
pub const XSLT_SECPREF_WRITE_FILE: c_int = 2;
pub const XSLT_SECPREF_CREATE_DIRECTORY: c_int = 3;
pub const XSLT_SECPREF_READ_NETWORK: c_int = 4;
pub const XSLT_SECPREF_WRITE_NETWORK: c_int = 5;

/// `xmlExternalEntityLoader` (parser.h).
pub type XmlExternalEntityLoader =
    unsafe extern "C" fn(url: *const c_char, id: *const c_char, ctxt: XmlParserCtxtPtr) -> XmlParserInputPtr;
/// `xmlTextReaderErrorFunc` (xmlreader.h); `severity` is an `xmlParserSeverities`.
pub type XmlTextReaderErrorFunc =
    unsafe extern "C" fn(arg: *mut c_void, msg: *const c_char, severity: c_int, locator: XmlTextReaderLocatorPtr);
/// `xsltSecurityCheck` (security.h): returns 1 to allow, 0 to refuse.
pub type XsltSecurityCheck =
    unsafe extern "C" fn(sec: XsltSecurityPrefsPtr, ctxt: XsltTransformContextPtr, value: *const c_char) -> c_int;
/// `xsltDocLoaderFunc` (documents.h); `load_type` is an `xsltLoadType`.
pub type XsltDocLoaderFunc = unsafe extern "C" fn(
    uri: *const u8,
    dict: XmlDictPtr,
    options: c_int,
    ctxt: *mut c_void,
    load_type: c_int,
) -> XmlDocPtr;

#[link(name = "xml2")]
unsafe extern "C" {
    pub fn xmlInitParser();
    pub fn xmlReadFile(url: *const c_char, encoding: *const c_char, options: c_int) -> XmlDocPtr;
    pub fn xmlReadFd(fd: c_int, url: *const c_char, encoding: *const c_char, options: c_int) -> XmlDocPtr;
    pub fn xmlFreeDoc(doc: XmlDocPtr);
    pub fn xmlSetExternalEntityLoader(f: Option<XmlExternalEntityLoader>);
    pub fn xmlNoNetExternalEntityLoader(
        url: *const c_char,
        id: *const c_char,
        ctxt: XmlParserCtxtPtr,
    ) -> XmlParserInputPtr;

    pub fn xmlReaderForMemory(
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> XmlTextReaderPtr;
    pub fn xmlFreeTextReader(reader: XmlTextReaderPtr);
    pub fn xmlTextReaderRead(reader: XmlTextReaderPtr) -> c_int;
    pub fn xmlTextReaderNodeType(reader: XmlTextReaderPtr) -> c_int;
    pub fn xmlTextReaderIsEmptyElement(reader: XmlTextReaderPtr) -> c_int;
    pub fn xmlTextReaderConstName(reader: XmlTextReaderPtr) -> *const u8;
    pub fn xmlTextReaderConstValue(reader: XmlTextReaderPtr) -> *const u8;
    pub fn xmlTextReaderMoveToNextAttribute(reader: XmlTextReaderPtr) -> c_int;
    pub fn xmlTextReaderMoveToElement(reader: XmlTextReaderPtr) -> c_int;
    pub fn xmlTextReaderSetErrorHandler(reader: XmlTextReaderPtr, f: Option<XmlTextReaderErrorFunc>, arg: *mut c_void);
    pub fn xmlTextReaderLocatorLineNumber(locator: XmlTextReaderLocatorPtr) -> c_int;
}

#[link(name = "xslt")]
unsafe extern "C" {
    pub fn xsltInit();
    pub fn xsltParseStylesheetFile(filename: *const u8) -> XsltStylesheetPtr;
    pub fn xsltFreeStylesheet(style: XsltStylesheetPtr);
    pub fn xsltNewTransformContext(style: XsltStylesheetPtr, doc: XmlDocPtr) -> XsltTransformContextPtr;
    pub fn xsltFreeTransformContext(ctxt: XsltTransformContextPtr);
    pub fn xsltApplyStylesheetUser(
        style: XsltStylesheetPtr,
        doc: XmlDocPtr,
        params: *const *const c_char,
        output: *const c_char,
        profile: *mut c_void,
        user_ctxt: XsltTransformContextPtr,
    ) -> XmlDocPtr;
    pub fn xsltSaveResultToFd(fd: c_int, result: XmlDocPtr, style: XsltStylesheetPtr) -> c_int;

    pub fn xsltNewSecurityPrefs() -> XsltSecurityPrefsPtr;
    pub fn xsltSetSecurityPrefs(sec: XsltSecurityPrefsPtr, option: c_int, func: Option<XsltSecurityCheck>) -> c_int;
    pub fn xsltSetDefaultSecurityPrefs(sec: XsltSecurityPrefsPtr);
    pub fn xsltSetCtxtSecurityPrefs(sec: XsltSecurityPrefsPtr, ctxt: XsltTransformContextPtr) -> c_int;
    pub fn xsltSecurityForbid(sec: XsltSecurityPrefsPtr, ctxt: XsltTransformContextPtr, value: *const c_char) -> c_int;

    pub fn xsltSetLoaderFunc(f: Option<XsltDocLoaderFunc>);
    /// The current document loader (libxslt's own until `xsltSetLoaderFunc` replaces it).
    pub static xsltDocDefaultLoader: Option<XsltDocLoaderFunc>;
}

#[link(name = "exslt")]
unsafe extern "C" {
    pub fn exsltRegisterAll();
}

// libc (always linked).
unsafe extern "C" {
    pub fn kill(pid: c_int, sig: c_int) -> c_int;
    pub fn _exit(status: c_int) -> !;
}

pub const SIGKILL: c_int = 9;
