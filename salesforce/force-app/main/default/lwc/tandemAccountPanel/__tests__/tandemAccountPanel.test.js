import { createElement } from 'lwc';
import TandemAccountPanel from 'c/tandemAccountPanel';
import getPanel from '@salesforce/apex/TandemAccountController.getPanel';
import sync from '@salesforce/apex/TandemAccountController.sync';
import open from '@salesforce/apex/TandemAccountController.open';
import compare from '@salesforce/apex/TandemAccountController.compare';
import updateInvoices from '@salesforce/apex/TandemAccountController.updateInvoices';
import unlink from '@salesforce/apex/TandemAccountController.unlink';
import link from '@salesforce/apex/TandemAccountController.link';

// Each Apex method a mock the test sets (jest.mock is hoisted: one call per module, literally).
jest.mock('@salesforce/apex/TandemAccountController.getPanel', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/TandemAccountController.sync', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/TandemAccountController.open', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/TandemAccountController.compare', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/TandemAccountController.updateInvoices', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/TandemAccountController.unlink', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/TandemAccountController.link', () => ({ default: jest.fn() }), { virtual: true });

const ACCOUNT_ID = '001000000000001AAA';
// The event lightning/platformShowToastEvent's ShowToastEvent dispatches.
const TOAST = 'lightning__showtoast';

const LINKED = {
    account: {
        Id: ACCOUNT_ID,
        Name: 'Acme',
        Billing_Id__c: 'cus_Acme',
        Sync_Status__c: 'Synced',
        Last_Sync_Time__c: '2026-11-30T10:00:00.000Z',
        Last_Sync_Error__c: null
    },
    invoices: [
        {
            Id: 'a01000000000001AAA',
            Name: 'INV-0001',
            Billing_Invoice_Id__c: 'in_1',
            Status__c: 'Open',
            Due_Date__c: '2026-12-14',
            Amount_Remaining__c: 30,
            Currency__c: 'EUR',
            Invoice_Pdf_Url__c: 'https://files.example/in_1.pdf'
        },
        { Id: 'a01000000000002AAA', Billing_Invoice_Id__c: 'in_2', Status__c: 'Paid', Amount_Remaining__c: 0, Currency__c: 'EUR' }
    ],
    payments: [{ Id: 'a02000000000001AAA', Kind__c: 'Payment', Status__c: 'Succeeded', Amount__c: 30, Payment_Date__c: '2026-11-01' }],
    subscriptions: [
        { Id: 'a03000000000001AAA', Product__r: { Name: 'SIP Trunk' }, Status__c: 'Active', Quantity__c: 2, Recurring_Amount__c: 25, Billed_Amount__c: 25 }
    ]
};

const UNLINKED = {
    account: { Id: ACCOUNT_ID, Name: 'New Co', Sync_Status__c: 'Error', Last_Sync_Error__c: 'billing refused: email invalid' },
    invoices: [],
    payments: [],
    subscriptions: []
};

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

async function render(panel) {
    getPanel.mockResolvedValue(panel);
    const element = createElement('c-tandem-account-panel', { is: TandemAccountPanel });
    element.recordId = ACCOUNT_ID;
    document.body.appendChild(element);
    await flush();
    return element;
}

const $ = (element, id) => element.shadowRoot.querySelector(`[data-id="${id}"]`);
const click = async (element, id) => {
    $(element, id).click();
    await flush();
    await flush();
};

afterEach(() => {
    while (document.body.firstChild) document.body.removeChild(document.body.firstChild);
    jest.clearAllMocks();
});

describe('c-tandem-account-panel', () => {
    it('shows a spinner while the billing records load', async () => {
        getPanel.mockReturnValue(new Promise(() => {}));
        const element = createElement('c-tandem-account-panel', { is: TandemAccountPanel });
        element.recordId = ACCOUNT_ID;
        document.body.appendChild(element);
        await flush();
        expect($(element, 'spinner')).not.toBeNull();
        expect($(element, 'link-status')).toBeNull();
        expect(getPanel).toHaveBeenCalledWith({ accountId: ACCOUNT_ID });
    });

    it("shows the error Apex gave, and nothing of the account's", async () => {
        getPanel.mockRejectedValue({ body: { message: 'Cannot read the billing records: no access' } });
        const element = createElement('c-tandem-account-panel', { is: TandemAccountPanel });
        element.recordId = ACCOUNT_ID;
        document.body.appendChild(element);
        await flush();
        expect($(element, 'error').textContent).toBe('Cannot read the billing records: no access');
        expect($(element, 'spinner')).toBeNull();
        expect($(element, 'link-status')).toBeNull();
    });

    it('shows a linked account with its invoices, payments and subscriptions', async () => {
        const element = await render(LINKED);
        expect($(element, 'spinner')).toBeNull();
        expect($(element, 'link-status').textContent).toBe('Linked to cus_Acme');
        expect($(element, 'sync-status').textContent).toContain('Sync status: Synced');
        expect($(element, 'last-error')).toBeNull();
        const invoiceRows = $(element, 'invoices-table').querySelectorAll('tbody tr');
        expect(invoiceRows).toHaveLength(2);
        expect(invoiceRows[0].textContent).toContain('INV-0001');
        expect(invoiceRows[0].textContent).toContain('Open');
        expect(invoiceRows[0].querySelector('a').href).toBe('https://files.example/in_1.pdf');
        expect(invoiceRows[1].textContent).toContain('in_2'); // no name: the billing id
        expect(invoiceRows[1].querySelector('a')).toBeNull();
        expect($(element, 'payments-table').querySelectorAll('tbody tr')).toHaveLength(1);
        const sub = $(element, 'subscriptions-table').querySelector('tbody tr');
        expect(sub.textContent).toContain('SIP Trunk');
        expect($(element, 'open').disabled).toBe(false);
        expect($(element, 'billing-id')).toBeNull();
    });

    it('shows an unlinked account with its last error and a way to link it', async () => {
        const element = await render(UNLINKED);
        expect($(element, 'link-status').textContent).toBe('Not linked to billing');
        expect($(element, 'last-error').textContent).toBe('billing refused: email invalid');
        expect($(element, 'no-invoices')).not.toBeNull();
        expect($(element, 'no-payments')).not.toBeNull();
        expect($(element, 'no-subscriptions')).not.toBeNull();
        for (const id of ['open', 'compare', 'invoices', 'unlink']) expect($(element, id).disabled).toBe(true);
        expect($(element, 'sync').disabled).toBe(false);
        expect($(element, 'link').disabled).toBe(true); // no billing id typed yet
    });

    it('lists the drift field by field after Compare', async () => {
        compare.mockResolvedValue({
            id: ACCOUNT_ID,
            diffs: [
                { field: 'name', crm: 'Acme', billing: 'ACME Corp' },
                { field: 'address.city', crm: 'Lisbon', billing: '' }
            ],
            message: '2 differences: ...'
        });
        const element = await render(LINKED);
        await click(element, 'compare');
        expect(compare).toHaveBeenCalledWith({ accountId: ACCOUNT_ID });
        const rows = $(element, 'diffs').querySelectorAll('tbody tr');
        expect(rows).toHaveLength(2);
        expect(rows[0].textContent).toBe('nameAcmeACME Corp');
        expect(rows[1].querySelectorAll('td')[0].textContent).toBe('address.city');
        expect($(element, 'drift-message').textContent).toBe('2 differences: ...');
    });

    it('says so when the account is in step', async () => {
        compare.mockResolvedValue({ id: ACCOUNT_ID, diffs: [], message: 'In step with billing.' });
        const element = await render(LINKED);
        await click(element, 'compare');
        expect($(element, 'diffs')).toBeNull();
        expect($(element, 'drift-message').textContent).toBe('In step with billing.');
    });

    it('calls the right Apex method for each button and reloads after a change', async () => {
        sync.mockResolvedValue({ id: ACCOUNT_ID, outcome: 'updated', billing_id: 'cus_Acme' });
        updateInvoices.mockResolvedValue({ id: ACCOUNT_ID, invoices: 2, payments: 1 });
        unlink.mockResolvedValue({ id: ACCOUNT_ID, outcome: 'unlinked', billing_id: 'cus_Acme' });
        open.mockResolvedValue({ id: ACCOUNT_ID, url: 'https://dashboard.example/cus_Acme' });
        const windowOpen = jest.spyOn(window, 'open').mockImplementation(() => null);
        const element = await render(LINKED);
        const toasts = [];
        element.addEventListener(TOAST, (e) => toasts.push(e.detail));

        await click(element, 'sync');
        expect(sync).toHaveBeenCalledWith({ accountId: ACCOUNT_ID });
        expect(getPanel).toHaveBeenCalledTimes(2);
        await click(element, 'invoices');
        expect(updateInvoices).toHaveBeenCalledWith({ accountId: ACCOUNT_ID });
        await click(element, 'open');
        expect(open).toHaveBeenCalledWith({ accountId: ACCOUNT_ID });
        expect(windowOpen).toHaveBeenCalledWith('https://dashboard.example/cus_Acme', '_blank', 'noopener');
        expect(getPanel).toHaveBeenCalledTimes(3); // open changes nothing: no reload
        await click(element, 'unlink');
        expect(unlink).toHaveBeenCalledWith({ accountId: ACCOUNT_ID });
        expect(link).not.toHaveBeenCalled();
        expect(toasts.map((t) => t.variant)).toEqual(['success', 'success', 'success']);
        expect(toasts[1].message).toBe('2 invoices, 1 payments from billing');
        windowOpen.mockRestore();
    });

    it('links to the billing id typed in', async () => {
        link.mockResolvedValue({ id: ACCOUNT_ID, outcome: 'linked', billing_id: 'cus_Typed' });
        const element = await render(UNLINKED);
        const input = $(element, 'billing-id');
        input.value = '  cus_Typed ';
        input.dispatchEvent(new CustomEvent('change'));
        await flush();
        expect($(element, 'link').disabled).toBe(false);
        await click(element, 'link');
        expect(link).toHaveBeenCalledWith({ accountId: ACCOUNT_ID, billingId: 'cus_Typed' });
        expect(sync).not.toHaveBeenCalled();
    });

    it("shows Tandem's reason when an action fails, and keeps the panel", async () => {
        sync.mockRejectedValue({ body: { message: 'Tandem did not accept the token.' } });
        const element = await render(LINKED);
        const toasts = [];
        element.addEventListener(TOAST, (e) => toasts.push(e.detail));
        await click(element, 'sync');
        expect(toasts).toEqual([expect.objectContaining({ title: 'Sync failed', message: 'Tandem did not accept the token.', variant: 'error' })]);
        expect($(element, 'link-status').textContent).toBe('Linked to cus_Acme');
        expect($(element, 'sync').disabled).toBe(false);
    });
});
