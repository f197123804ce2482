import { createElement } from 'lwc';
import TandemRecordAction from 'c/tandemRecordAction';
import actionsFor from '@salesforce/apex/TandemRecordActionController.actionsFor';
import run from '@salesforce/apex/TandemRecordActionController.run';

jest.mock('@salesforce/apex/TandemRecordActionController.actionsFor', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/TandemRecordActionController.run', () => ({ default: jest.fn() }), { virtual: true });

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
const $ = (element, id) => element.shadowRoot.querySelector(`[data-id="${id}"]`);

async function render(recordId, actions) {
    actionsFor.mockResolvedValue(actions);
    const element = createElement('c-tandem-record-action', { is: TandemRecordAction });
    element.recordId = recordId;
    document.body.appendChild(element);
    await flush();
    return element;
}

afterEach(() => {
    while (document.body.firstChild) document.body.removeChild(document.body.firstChild);
    jest.clearAllMocks();
});

describe('c-tandem-record-action', () => {
    it("offers the record's actions and runs the one clicked", async () => {
        run.mockResolvedValue({ success: true, message: 'Sync: updated' });
        const element = await render('001000000000001AAA', ['sync', 'open', 'compare', 'invoices']);
        expect(actionsFor).toHaveBeenCalledWith({ recordId: '001000000000001AAA' });
        expect($(element, 'reason')).toBeNull();
        expect($(element, 'sync').label).toBe('Sync to billing');
        $(element, 'sync').click();
        await flush();
        expect(run).toHaveBeenCalledWith({ recordId: '001000000000001AAA', action: 'sync', reason: '' });
        expect($(element, 'result').textContent).toBe('Sync: updated');
        expect($(element, 'result').className).toBe('slds-text-color_success');
    });

    it('dismisses an order task with the reason typed', async () => {
        run.mockResolvedValue({ success: false, message: 'Tandem refused: no failed task to dismiss' });
        const element = await render('801000000000001AAA', ['show', 'retry', 'restart', 'dismiss']);
        const reason = $(element, 'reason');
        reason.value = 'Customer cancelled';
        reason.dispatchEvent(new CustomEvent('change'));
        $(element, 'dismiss').click();
        await flush();
        expect(run).toHaveBeenCalledWith({ recordId: '801000000000001AAA', action: 'dismiss', reason: 'Customer cancelled' });
        expect($(element, 'result').className).toBe('slds-text-color_error');
    });

    it('opens the billing page Tandem names', async () => {
        run.mockResolvedValue({ success: true, message: 'Open: done', url: 'https://billing.example/cus_1' });
        const windowOpen = jest.spyOn(window, 'open').mockImplementation(() => null);
        const element = await render('001000000000001AAA', ['sync', 'open']);
        $(element, 'open').click();
        await flush();
        expect(windowOpen).toHaveBeenCalledWith('https://billing.example/cus_1', '_blank', 'noopener');
        windowOpen.mockRestore();
    });

    it("shows Apex's error when the actions cannot be read or run", async () => {
        actionsFor.mockRejectedValue({ body: { message: 'no access to TandemRecordActionController' } });
        const element = createElement('c-tandem-record-action', { is: TandemRecordAction });
        element.recordId = '001000000000001AAA';
        document.body.appendChild(element);
        await flush();
        expect($(element, 'error').textContent).toBe('no access to TandemRecordActionController');
        run.mockRejectedValue({ body: { message: 'Only a Tandem Admin may update invoices from billing' } });
        const other = await render('001000000000002AAA', ['invoices']);
        $(other, 'invoices').click();
        await flush();
        expect($(other, 'result').textContent).toContain('Only a Tandem Admin');
    });

    it('says so when the object has no action', async () => {
        const element = await render('006000000000001AAA', []);
        expect($(element, 'error').textContent).toBe('Tandem has no action for this record.');
    });
});

describe('closing', () => {
    it('closes the action window', async () => {
        const element = await render('001000000000001AAA', ['sync']);
        const closed = jest.fn();
        element.addEventListener('lightning__actionsclosescreen', closed);
        $(element, 'close').click();
        expect(closed).toHaveBeenCalledTimes(1);
    });
});
