'use strict';

const { apiUrl } = require('../lib');

// A hidden trigger feeding the Template dropdown of the actions.
module.exports = {
  key: 'template_list',
  noun: 'Template',
  display: {
    label: 'List Templates',
    description: 'Lists the pass templates of the workspace (for dropdowns).',
    hidden: true,
  },
  operation: {
    perform: async (z, bundle) => {
      const params = { limit: 100 };
      // Zapier asks for the next page with bundle.meta.page; passhub pages
      // with a cursor, so each page is read from the start.
      const pages = (bundle.meta && bundle.meta.page) || 0;
      let cursor = '';
      let templates = [];
      for (let i = 0; i <= pages; i++) {
        const response = await z.request({
          url: apiUrl(bundle, '/v1/templates'),
          params: cursor ? { ...params, cursor } : params,
        });
        templates = response.data.data || [];
        cursor = response.data.nextCursor || '';
        if (!cursor && i < pages) {
          return [];
        }
      }
      return templates.map((t) => ({ id: t.id, name: t.name, style: t.style }));
    },
    canPaginate: true,
    sample: { id: 'tpl_06h0kkmkb6yvcqnk999mht95xg', name: 'Loyalty card', style: 'storeCard' },
    outputFields: [
      { key: 'id', label: 'Template ID' },
      { key: 'name', label: 'Name' },
      { key: 'style', label: 'Style' },
    ],
  },
};
