// Every Apex file of the package parses with @apexdevtools/apex-parser (the platform's grammar),
// has its -meta.xml, and keeps the contract rules no org is needed to check: no token in Apex,
// every TandemApiContract call exercised by an Apex test, every callout through the Named
// Credential. Run: node --test tests/ (from salesforce/).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const {
    ApexLexer,
    ApexParser,
    CaseInsensitiveInputStream,
    CommonTokenStream
} = require('@apexdevtools/apex-parser');
const { CharStreams } = require('antlr4ts');

const root = path.join(__dirname, '..', 'force-app', 'main', 'default');
const classesDir = path.join(root, 'classes');
const apexFiles = fs
    .readdirSync(classesDir)
    .filter((f) => f.endsWith('.cls'))
    .map((f) => path.join(classesDir, f));

// The lexer's and the parser's errors, "LINE:COLUMN message" each.
function syntaxErrors(source) {
    const errors = [];
    const collect = {
        syntaxError(recognizer, offending, line, column, msg) {
            errors.push(`${line}:${column} ${msg}`);
        }
    };
    const lexer = new ApexLexer(new CaseInsensitiveInputStream(CharStreams.fromString(source)));
    lexer.removeErrorListeners();
    lexer.addErrorListener(collect);
    const parser = new ApexParser(new CommonTokenStream(lexer));
    parser.removeErrorListeners();
    parser.addErrorListener(collect);
    parser.compilationUnit();
    return errors;
}

test('the parser reports a broken class (so a pass means something)', () => {
    assert.notDeepStrictEqual(syntaxErrors('public class Broken { void f( { }'), []);
    assert.deepStrictEqual(syntaxErrors('public class Fine { void f() {} }'), []);
});

test('the package has its Apex classes', () => {
    assert.ok(apexFiles.length >= 10, `${apexFiles.length} classes`);
});

for (const file of apexFiles) {
    test(`${path.basename(file)} parses and has its metadata`, () => {
        const source = fs.readFileSync(file, 'utf8');
        assert.deepStrictEqual(syntaxErrors(source), [], file);
        const meta = fs.readFileSync(`${file}-meta.xml`, 'utf8');
        assert.match(meta, /<apiVersion>\d+\.0<\/apiVersion>/);
        assert.match(meta, /<status>Active<\/status>/);
        // The token lives in the External Credential only.
        assert.doesNotMatch(source, /tdm_[A-Za-z0-9]/, 'a token in Apex');
        assert.doesNotMatch(source, /setHeader\(\s*'Authorization'/i, 'Apex sets no Authorization header');
        // Callouts go through the Named Credential, never to a literal host.
        assert.doesNotMatch(source, /setEndpoint\(\s*'https?:/i, 'endpoint not through callout:Tandem');
    });
}

test('every call of the contract is exercised by an Apex test, and names a TandemClient method', () => {
    const contract = JSON.parse(
        fs.readFileSync(path.join(root, 'staticresources', 'TandemApiContract.json'), 'utf8')
    );
    const tests = apexFiles
        .filter((f) => /Test\.cls$/.test(f))
        .map((f) => fs.readFileSync(f, 'utf8'))
        .join('\n');
    const client = fs.readFileSync(path.join(classesDir, 'TandemClient.cls'), 'utf8');
    for (const call of contract.calls) {
        assert.ok(
            tests.includes(`TandemCalloutMock('${call.name}')`) || tests.includes(`call('${call.name}')`),
            `no Apex test uses contract call ${call.name}`
        );
        const method = call.apex.split('.')[1];
        assert.match(client, new RegExp(`public Map<String, Object> ${method}\\(`), call.apex);
        assert.ok(call.path.startsWith('/api/v1/'), call.path);
    }
});

test('every invocable action may call out', () => {
    for (const file of apexFiles) {
        const source = fs.readFileSync(file, 'utf8');
        for (const m of source.matchAll(/@InvocableMethod\(([^)]*)\)/g))
            assert.match(m[1], /callout=true/, `${path.basename(file)}: ${m[0]}`);
    }
});
